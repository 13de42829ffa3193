package dev.rproxy.config;

import java.nio.file.Path;

/**
 * One certificate of a TLS listener, as PEM files: {@code certFile} the chain (the server's
 * certificate first), {@code keyFile} its private key (PKCS#8, RSA or EC). A relative path is
 * taken from the configuration file's directory.
 */
public record CertificateConfig(Path certFile, Path keyFile) {

    public CertificateConfig {
        Checks.required("certFile", certFile);
        Checks.required("keyFile", keyFile);
    }
}
