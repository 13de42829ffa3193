package dev.rproxy.config;

import java.nio.file.Path;

/**
 * TLS to an {@code https://} backend.
 *
 * @param caFile     PEM certificates to trust for this backend instead of the system's trust store
 * @param verify     check the backend's certificate chain and that it is for {@code serverName};
 *                   {@code false} only when written out
 * @param serverName the name sent in SNI and checked in the certificate; the URL's host by default
 * @param certFile   a client certificate chain (PEM) for backends that ask for one (mutual TLS)
 * @param keyFile    its PKCS#8 private key (PEM); given with {@code certFile} or not at all
 */
public record BackendTlsConfig(Path caFile, boolean verify, String serverName, Path certFile, Path keyFile) {

    public static final BackendTlsConfig DEFAULT = new BackendTlsConfig(null, true, null, null, null);

    public BackendTlsConfig {
        if (serverName != null) {
            Checks.token("serverName", serverName);
        }
        if ((certFile == null) != (keyFile == null)) {
            throw new ConfigException((certFile == null ? "certFile" : "keyFile")
                    + ": required with " + (certFile == null ? "keyFile" : "certFile"));
        }
    }
}
