package dev.rproxy.support;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

/** Certificates for TLS tests: a CA of their own, and a server certificate for the loopback listeners. */
public final class TestCertificates {

    private TestCertificates() {
    }

    /** A new self-signed EC P-256 certificate authority. */
    public static X509Bundle ca() throws Exception {
        return new CertificateBuilder().subject("CN=rproxy test CA").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
    }

    /**
     * A server certificate for {@code localhost} at 127.0.0.1 issued by {@code ca}, written to
     * {@code dir} as {@code site.pem} (its chain) and {@code site.key}, the files a listener's
     * {@code tls.certificates} names.
     */
    public static X509Bundle writeSite(X509Bundle ca, Path dir) throws Exception {
        X509Bundle site = new CertificateBuilder().subject("CN=localhost").addSanIpAddress("127.0.0.1")
                .notBefore(Instant.now().minusSeconds(60)).addExtendedKeyUsageServerAuth().ecp256()
                .buildIssuedBy(ca);
        Files.writeString(dir.resolve("site.pem"), site.getCertificatePathPEM());
        Files.writeString(dir.resolve("site.key"), site.getPrivateKeyPEM());
        return site;
    }
}
