/**
 * A self-signed certificate for 127.0.0.1 and its key, for HTTPS servers in unit tests (no openssl needed): made once
 * with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500 -subj /CN=127.0.0.1 -addext
 * subjectAltName=IP:127.0.0.1`, valid until 2126, trusted by nothing unless a test says so.
 */
export const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgo+qLDhnBF2iuTpB9
K8+YiFgyZ5/TGYoXUOvRPIQ+PfmhRANCAARuUxv2+VLLuQcWW/hmcJf0dHk/LsfB
/+g8ZLGWmbkRAhrFKheXCInGdlhKPV4iRNi4xcipp9SwR1roZVj8Vyw4
-----END PRIVATE KEY-----
`;

export const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUNSKy2y54VqLGRCPVwEce7BoualcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEzMDE4MjA0MFoYDzIxMjYxMTA2
MTgyMDQwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARuUxv2+VLLuQcWW/hmcJf0dHk/LsfB/+g8ZLGWmbkRAhrFKheXCInG
dlhKPV4iRNi4xcipp9SwR1roZVj8Vyw4o2QwYjAdBgNVHQ4EFgQUI5WQCEvGNub4
/ZMv3JKp+X7yotswHwYDVR0jBBgwFoAUI5WQCEvGNub4/ZMv3JKp+X7yotswDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQCLcXKe1ouIaJwfKSYTKdtT9gQnMtZCkgB/fbiSwuSLnQIhAOXjF80PIrxwgHy1
WDMZPVWpk5ELea88psfrlpwkl5y5
-----END CERTIFICATE-----
`;
