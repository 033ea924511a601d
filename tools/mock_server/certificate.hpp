#ifndef CARCHECK_MOCK_CERTIFICATE_HPP
#define CARCHECK_MOCK_CERTIFICATE_HPP

// A throw-away PKI for the TLS port: a self-signed CA and a leaf for `hostname` it signs
// (EC P-256, SHA-256). Clients trust the CA; the server presents leaf + CA.

#include <string>

namespace carcheck::mock {

struct generated_certificate {
    std::string ca_pem;    ///< what clients must trust
    std::string chain_pem; ///< leaf then CA, for the server
    std::string key_pem;   ///< the leaf's private key (PKCS#8)
};

/// SAN: DNS:hostname, plus IP:127.0.0.1 and IP:::1 when hostname is "localhost".
/// expired: the leaf's validity ended yesterday.
generated_certificate generate_certificate(const std::string& hostname, bool expired);

} // namespace carcheck::mock

#endif
