package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rproxy.config.ConfigException;
import dev.rproxy.config.ConfigLoader;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.TlsBackend;
import dev.rproxy.support.TestCertificates;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code https://} backends: TLS to the backend with its certificate verified against a CA file
 * (or, with {@code "verify": false} written out, not at all), SNI from the URL or {@code
 * serverName}, client certificates for a backend that asks for one, health probes over the same
 * TLS; a failed handshake answered 502 and never a request half sent.
 */
class HttpsBackendTest {
    @TempDir
    static Path dir;

    private static X509Bundle ca;
    private static TlsBackend backend;
    private static TlsBackend mutual;

    @BeforeAll
    static void start() throws Exception {
        ca = TestCertificates.ca();
        X509Bundle server = new CertificateBuilder().subject("CN=backend.test").addSanDnsName("backend.test")
                .addSanDnsName("localhost").addSanIpAddress("127.0.0.1").notBefore(Instant.now().minusSeconds(60))
                .addExtendedKeyUsageServerAuth().ecp256().buildIssuedBy(ca);
        X509Bundle client = new CertificateBuilder().subject("CN=rproxy client").notBefore(Instant.now().minusSeconds(60))
                .addExtendedKeyUsageClientAuth().ecp256().buildIssuedBy(ca);
        Files.writeString(dir.resolve("ca.pem"), ca.getRootCertificatePEM());
        Files.writeString(dir.resolve("client.pem"), client.getCertificatePathPEM());
        Files.writeString(dir.resolve("client.key"), client.getPrivateKeyPEM());
        backend = new TlsBackend(server.toKeyManagerFactory(), null);
        mutual = new TlsBackend(server.toKeyManagerFactory(), ca.toTrustManager());
    }

    @AfterAll
    static void stop() {
        if (backend != null) {
            backend.close();
        }
        if (mutual != null) {
            mutual.close();
        }
    }

    /** A proxy in front of the one backend {@code backendJson}; health checks as given. */
    private static ProxyServer proxy(String backendJson, boolean health) throws Exception {
        Path config = Files.writeString(dir.resolve("proxy.json"), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                + "\"backends\": [" + backendJson + "],"
                + "\"healthCheck\": " + (health ? "{\"intervalMs\": 200, \"timeoutMs\": 1000}" : "{\"enabled\": false}") + "}");
        ProxyServer proxy = new ProxyServer(ConfigLoader.load(config));
        proxy.start();
        return proxy;
    }

    /** A GET through {@code proxy}: its status and body as text. */
    private record Answer(int status, String body) {}

    private static Answer get(ProxyServer proxy) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /via-tls HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            RawHttp.Response response = raw.read();
            return new Answer(response.status(), new String(response.body(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aVerifiedBackendIsProbedAndServedOverTls() throws Exception {
        ProxyServer proxy = proxy("{\"url\": \"https://127.0.0.1:" + backend.port() + "\", \"tls\": {\"caFile\": \"ca.pem\"}}",
                true);
        try {
            assertThat(proxy.backends().routable()).as("healthy by a probe over TLS").hasSize(1);
            Answer response = get(proxy);
            assertThat(response.status()).isEqualTo(200);
            // No SNI for an IP address (RFC 6066 section 3); the certificate's IP address matched.
            assertThat(response.body()).isEqualTo("sni=none client=none forwarded-proto=http bytes=0\n");
        } finally {
            proxy.shutdown();
        }
    }

    @Test
    void theServerNameIsSentInSniAndChecked() throws Exception {
        ProxyServer proxy = proxy("{\"url\": \"https://127.0.0.1:" + backend.port() + "\","
                + " \"tls\": {\"caFile\": \"ca.pem\", \"serverName\": \"backend.test\"}}", false);
        try {
            assertThat(get(proxy).body()).startsWith("sni=backend.test ");
        } finally {
            proxy.shutdown();
        }
        // By default the URL's host is checked; a name without a dot (localhost) is not sent in SNI,
        // as by most TLS clients (RFC 6066 section 3 asks for a fully qualified name).
        ProxyServer byHost = proxy("{\"url\": \"https://localhost:" + backend.port() + "\", \"tls\": {\"caFile\": \"ca.pem\"}}",
                false);
        try {
            Answer answer = get(byHost);
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.body()).startsWith("sni=none ");
        } finally {
            byHost.shutdown();
        }
    }

    @Test
    void aCertificateThatDoesNotVerifyIs502AndNothingIsSent() throws Exception {
        // Not for this name, then not from a trusted CA (the JDK's store does not have the test CA).
        for (String tls : new String[] {"{\"caFile\": \"ca.pem\", \"serverName\": \"elsewhere.test\"}", "{}"}) {
            ProxyServer proxy = proxy("{\"url\": \"https://localhost:" + backend.port() + "\", \"tls\": " + tls + "}", false);
            try {
                Answer response = get(proxy);
                assertThat(response.status()).as(tls).isEqualTo(502);
                assertThat(response.body()).as(tls).contains("TLS handshake with the backend failed");
            } finally {
                proxy.shutdown();
            }
        }
    }

    @Test
    void verifyFalseAcceptsAnyCertificateWhenWrittenOut() throws Exception {
        ProxyServer proxy = proxy("{\"url\": \"https://localhost:" + backend.port() + "\","
                + " \"tls\": {\"verify\": false, \"serverName\": \"elsewhere.test\"}}", false);
        try {
            assertThat(get(proxy).status()).isEqualTo(200);
        } finally {
            proxy.shutdown();
        }
    }

    @Test
    void aBackendThatAsksForAClientCertificateGetsTheConfiguredOne() throws Exception {
        ProxyServer without = proxy("{\"url\": \"https://localhost:" + mutual.port() + "\", \"tls\": {\"caFile\": \"ca.pem\"}}",
                false);
        try {
            assertThat(get(without).status()).isEqualTo(502);
        } finally {
            without.shutdown();
        }
        ProxyServer with = proxy("{\"url\": \"https://localhost:" + mutual.port() + "\", \"tls\": {\"caFile\": \"ca.pem\","
                + " \"certFile\": \"client.pem\", \"keyFile\": \"client.key\"}}", false);
        try {
            Answer response = get(with);
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.body()).contains(" client=CN=rproxy client ");
        } finally {
            with.shutdown();
        }
    }

    @Test
    void tlsSettingsThatCannotWorkAreConfigurationErrors() throws Exception {
        assertThatThrownBy(() -> ConfigLoader.parse("{\"backends\": [{\"url\": \"http://a:1\", \"tls\": {}}]}"))
                .isInstanceOf(ConfigException.class).hasMessage("backends[0].tls: only for https:// backends");
        assertThatThrownBy(() -> ConfigLoader.parse("{\"backends\": [{\"url\": \"https://a\","
                + " \"tls\": {\"certFile\": \"c.pem\"}}]}"))
                .isInstanceOf(ConfigException.class).hasMessage("backends[0].tls.keyFile: required with certFile");
        assertThat(ConfigLoader.parse("{\"backends\": [{\"url\": \"https://a\"}]}").backends().get(0).port()).isEqualTo(443);
        Path config = Files.writeString(dir.resolve("missing.json"), "{\"backends\": [{\"url\": \"https://a\","
                + " \"tls\": {\"caFile\": \"nope.pem\"}}]}");
        assertThatThrownBy(() -> new ProxyServer(ConfigLoader.load(config)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("backends[0].tls.caFile: " + dir.resolve("nope.pem") + ": cannot read");
        Files.writeString(dir.resolve("garbage.pem"), "not a certificate\n");
        Path garbage = Files.writeString(dir.resolve("garbage.json"), "{\"backends\": [{\"url\": \"https://a\","
                + " \"tls\": {\"caFile\": \"garbage.pem\"}}]}");
        assertThatThrownBy(() -> new ProxyServer(ConfigLoader.load(garbage)))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("backends[0].tls: cannot use " + dir.resolve("garbage.pem"));
    }
}
