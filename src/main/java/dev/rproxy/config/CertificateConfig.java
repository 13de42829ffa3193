package dev.rproxy.config;

import java.nio.file.Path;

/**
 * One certificate of a TLS listener, as PEM files: {@code certFile} the chain (the server's
 * certificate first), {@code keyFile} its private key (PKCS#8, RSA or EC), and optionally {@code
 * ocspFile}, a DER-encoded OCSP response for the certificate to staple to handshakes (as nginx's
 * {@code ssl_stapling_file}; refreshed by whatever fetches it, re-read when it changes). A relative
 * path is taken from the configuration file's directory.
 */
public record CertificateConfig(Path certFile, Path keyFile, Path ocspFile) {

    public CertificateConfig {
        Checks.required("certFile", certFile);
        Checks.required("keyFile", keyFile);
    }

    /** A certificate without a stapled OCSP response. */
    public CertificateConfig(Path certFile, Path keyFile) {
        this(certFile, keyFile, null);
    }
}
