package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.ConfigLoader;
import dev.rproxy.testbackend.TestBackend;
import dev.rproxy.support.TestCertificates;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * TLS listeners, through real TLS clients (the JDK's HttpClient and SSLSocket) against a proxy with
 * a plaintext listener, a TLS listener with two certificates and a TLS 1.3-only listener, in front
 * of a real backend. Certificates are issued by a test CA made here.
 */
class TlsListenerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SUBJECT_ALT_NAME = "2.5.29.17";

    @TempDir
    static Path dir;

    private static X509Bundle ca;
    private static TestBackend backend;
    private static ProxyServer proxy;
    private static SSLContext trustingCa;

    @BeforeAll
    static void start() throws Exception {
        ca = TestCertificates.ca();
        // The first certificate is the default: no SNI, or a name no certificate has.
        writeCertificate("default", leaf("CN=default.test").addSanDnsName("default.test").addSanIpAddress("127.0.0.1").rsa2048());
        writeCertificate("site", leaf("CN=site.test").addExtensionOctetString(SUBJECT_ALT_NAME, false,
                dnsNames("site.test", "*.site.test")).ecp256());
        backend = TestBackend.start("backend1", "127.0.0.1", 0);
        String certificates = "\"certificates\": [{\"certFile\": \"default.pem\", \"keyFile\": \"default.key\"},"
                + "{\"certFile\": \"site.pem\", \"keyFile\": \"site.key\"}]";
        Path config = Files.writeString(dir.resolve("proxy.json"), "{\"listen\": ["
                + "{\"host\": \"127.0.0.1\", \"port\": 0},"
                + "{\"host\": \"127.0.0.1\", \"port\": 0, \"tls\": {" + certificates + "}},"
                + "{\"host\": \"127.0.0.1\", \"port\": 0, \"tls\": {" + certificates + ", \"minVersion\": \"TLSv1.3\"}}],"
                + "\"backends\": [{\"id\": \"backend1\", \"url\": \"" + backend.url() + "\"}],"
                + "\"healthCheck\": {\"intervalMs\": 200, \"timeoutMs\": 1000},"
                + "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0}}");
        proxy = new ProxyServer(ConfigLoader.load(config));
        proxy.start();
        trustingCa = SSLContext.getInstance("TLS");
        trustingCa.init(null, new TrustManager[] {ca.toTrustManager()}, null);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.shutdown();
        }
        if (backend != null) {
            backend.close();
        }
    }

    @Test
    void httpsRequestsAreProxiedAndForwardedAsHttps() throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool();
        HttpClient client = HttpClient.newBuilder().sslContext(trustingCa).version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).executor(executor).build();
        try {
            HttpResponse<String> response = client.send(HttpRequest.newBuilder(
                    URI.create("https://127.0.0.1:" + proxy.port(1) + "/tls?x=1")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());

            assertThat(response.statusCode()).isEqualTo(200);
            JsonNode echoed = JSON.readTree(response.body());
            assertThat(echoed.get("path").asText()).isEqualTo("/tls");
            assertThat(echoed.get("headers").get("x-forwarded-proto").get(0).asText()).isEqualTo("https");
            assertThat(response.sslSession()).get().extracting(s -> s.getProtocol()).isEqualTo("TLSv1.3");
            String metrics = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.adminPort() + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(metrics).containsPattern("rproxy_tls_handshakes_total\\{result=\"ok\"} [1-9]");
        } finally {
            executor.shutdownNow();
        }
        // The plaintext listener of the same proxy still says http.
        try (Socket plain = new Socket("127.0.0.1", proxy.port(0))) {
            String answer = exchange(plain, "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assertThat(answer).startsWith("HTTP/1.1 200").contains("\"x-forwarded-proto\":[\"http\"]");
        }
    }

    @Test
    void theCertificateIsChosenByTheNameTheClientSends() throws Exception {
        assertThat(subjectFor("site.test")).isEqualTo("CN=site.test");
        assertThat(subjectFor("a.site.test")).isEqualTo("CN=site.test");
        assertThat(subjectFor("A.Site.TEST")).isEqualTo("CN=site.test");
        // A wildcard covers one label only; other names and no SNI get the first certificate.
        assertThat(subjectFor("a.b.site.test")).isEqualTo("CN=default.test");
        assertThat(subjectFor("unknown.test")).isEqualTo("CN=default.test");
        assertThat(subjectFor(null)).isEqualTo("CN=default.test");
    }

    @Test
    void alpnSelectsHttp11AmongWhatTheClientOffers() throws Exception {
        try (SSLSocket socket = connect(proxy.port(1), "site.test", List.of("h2", "http/1.1"), null, null)) {
            assertThat(socket.getApplicationProtocol()).isEqualTo("http/1.1");
            assertThat(exchange(socket, "GET /alpn HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"))
                    .startsWith("HTTP/1.1 200");
        }
    }

    @Test
    void weakSuitesAndVersionsBelowTheMinimumAreRefused() throws Exception {
        // CBC with SHA-1 is not on the list, whatever the client offers.
        assertThatThrownBy(() -> connect(proxy.port(1), "site.test", null, "TLSv1.2",
                "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA").close()).isInstanceOf(SSLHandshakeException.class);
        try (SSLSocket socket = connect(proxy.port(1), "site.test", null, "TLSv1.2", null)) {
            assertThat(socket.getSession().getProtocol()).isEqualTo("TLSv1.2");
            assertThat(socket.getSession().getCipherSuite()).contains("_GCM_");
        }
        // minVersion TLSv1.3: a TLS 1.2 client is refused.
        assertThatThrownBy(() -> connect(proxy.port(2), "site.test", null, "TLSv1.2", null).close())
                .isInstanceOf(SSLHandshakeException.class);
        try (SSLSocket socket = connect(proxy.port(2), "site.test", null, "TLSv1.3", null)) {
            assertThat(socket.getSession().getProtocol()).isEqualTo("TLSv1.3");
        }
    }

    @Test
    void aRefusedRequestIsAnsweredThenClosedWithCloseNotify() throws Exception {
        try (SSLSocket socket = connect(proxy.port(1), "site.test", null, null, null)) {
            socket.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            // readAll ends at -1, which the JDK's SSLSocket returns only after the peer's
            // close_notify; a TCP close without it is an SSLException.
            assertThat(readAll(socket.getInputStream())).startsWith("HTTP/1.1 400");
        }
    }

    @Test
    void replacedCertificateFilesServeNewHandshakesWhileOpenConnectionsCarryOn() throws Exception {
        writeCertificate("reload", leaf("CN=first.test").addSanDnsName("reload.test").ecp256());
        Path config = Files.writeString(dir.resolve("reload.json"), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0,"
                + "\"tls\": {\"certificates\": [{\"certFile\": \"reload.pem\", \"keyFile\": \"reload.key\"}]}},"
                + "\"backends\": [{\"url\": \"" + backend.url() + "\"}], \"healthCheck\": {\"enabled\": false}}");
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(TlsContexts.class);
        log.start();
        logger.addAppender(log);
        ProxyServer reloading = new ProxyServer(ConfigLoader.load(config));
        try {
            int port = reloading.start().getPort();
            try (SSLSocket open = connect(port, "reload.test", null, null, null)) {
                assertThat(subjectOf(open)).isEqualTo("CN=first.test");
                writeCertificate("reload", leaf("CN=renewed.test").addSanDnsName("reload.test").ecp256());

                await().atMost(Duration.ofSeconds(10)).until(() -> subjectFor(port, "reload.test").equals("CN=renewed.test"));
                assertThat(exchange(open, "GET /still HTTP/1.1\r\nHost: reload.test\r\nConnection: close\r\n\r\n"))
                        .startsWith("HTTP/1.1 200");
            }
            // A key that does not match its certificate is not taken: the renewed pair stays in use.
            log.list.clear();
            Files.writeString(dir.resolve("reload.key"), leaf("CN=other").ecp256().buildIssuedBy(ca).getPrivateKeyPEM());
            await().atMost(Duration.ofSeconds(10)).until(() -> log.list.stream()
                    .anyMatch(e -> e.getFormattedMessage().startsWith("certificates not reloaded")));
            assertThat(subjectFor(port, "reload.test")).isEqualTo("CN=renewed.test");
        } finally {
            reloading.shutdown();
            logger.detachAppender(log);
        }
    }

    @Test
    void anOcspResponseIsStapledAndSessionsResumeWithTickets() throws Exception {
        writeCertificate("stapled", leaf("CN=stapled.test").addSanDnsName("stapled.test").ecp256());
        byte[] ocsp = ocspGood(dir.resolve("stapled.pem"));
        Files.write(dir.resolve("stapled.ocsp"), ocsp);
        Path config = Files.writeString(dir.resolve("stapled.json"), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0,"
                + "\"tls\": {\"certificates\": [{\"certFile\": \"stapled.pem\", \"keyFile\": \"stapled.key\","
                + " \"ocspFile\": \"stapled.ocsp\"}]}},"
                + "\"backends\": [{\"url\": \"" + backend.url() + "\"}], \"healthCheck\": {\"enabled\": false}}");
        ProxyServer stapling = new ProxyServer(ConfigLoader.load(config));
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            int port = stapling.start().getPort();
            // A client asking for the certificate's status (status_request) gets the response as it is.
            SslContext asking = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL).enableOcsp(true)
                    .trustManager(ca.getCertificate()).build();
            Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
                    .handler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel c) {
                            c.pipeline().addLast(asking.newHandler(c.alloc(), "stapled.test", port));
                        }
                    }).connect("127.0.0.1", port).sync().channel();
            SslHandler tls = ch.pipeline().get(SslHandler.class);
            assertThat(tls.handshakeFuture().await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(tls.handshakeFuture().isSuccess()).isTrue();
            assertThat(((ReferenceCountedOpenSslEngine) tls.engine()).getOcspResponse()).isEqualTo(ocsp);
            ch.close().sync();

            // A second connection with the first one's session ticket is resumed: no certificate is
            // sent, so the client's trust manager is not asked again.
            java.util.concurrent.atomic.AtomicInteger checks = new java.util.concurrent.atomic.AtomicInteger();
            javax.net.ssl.X509TrustManager trust = (javax.net.ssl.X509TrustManager) ca.toTrustManager();
            SSLContext resuming = SSLContext.getInstance("TLSv1.3");
            resuming.init(null, new TrustManager[] {new javax.net.ssl.X509TrustManager() {
                @Override
                public void checkClientTrusted(X509Certificate[] chain, String authType) {
                    throw new UnsupportedOperationException();
                }

                @Override
                public void checkServerTrusted(X509Certificate[] chain, String authType)
                        throws java.security.cert.CertificateException {
                    checks.incrementAndGet();
                    trust.checkServerTrusted(chain, authType);
                }

                @Override
                public X509Certificate[] getAcceptedIssuers() {
                    return trust.getAcceptedIssuers();
                }
            }}, null);
            for (int i = 0; i < 2; i++) {
                try (SSLSocket socket = (SSLSocket) resuming.getSocketFactory().createSocket("127.0.0.1", port)) {
                    socket.setSoTimeout(10_000);
                    // The ticket comes after the handshake, with the first response.
                    assertThat(exchange(socket, "GET /_health HTTP/1.1\r\nHost: stapled.test\r\nConnection: close\r\n\r\n"))
                            .startsWith("HTTP/1.1 200");
                }
            }
            assertThat(checks.get()).as("certificate checks in two handshakes").isEqualTo(1);
        } finally {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
            stapling.shutdown();
        }
    }

    @Test
    void aCertificateThatDoesNotLoadIsAConfigurationErrorNamingIt() throws Exception {
        Path missing = dir.resolve("missing.json");
        Files.writeString(missing, "{\"listen\": [{\"port\": 0}, {\"port\": 0, \"tls\": {\"certificates\": ["
                + "{\"certFile\": \"nope.pem\", \"keyFile\": \"nope.key\"}]}}],"
                + "\"backends\": [{\"url\": \"http://127.0.0.1:1\"}]}");
        assertThatThrownBy(() -> new ProxyServer(ConfigLoader.load(missing)))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("listen[1].tls.certificates[0].certFile: " + dir.resolve("nope.pem") + ": cannot read");

        X509Bundle other = leaf("CN=mismatch").ecp256().buildIssuedBy(ca);
        Files.writeString(dir.resolve("mismatch.pem"), other.getCertificatePEM());
        Files.writeString(dir.resolve("mismatch.key"), leaf("CN=else").ecp256().buildIssuedBy(ca).getPrivateKeyPEM());
        Path mismatched = dir.resolve("mismatched.json");
        Files.writeString(mismatched, "{\"listen\": {\"port\": 0, \"tls\": {\"certificates\": ["
                + "{\"certFile\": \"mismatch.pem\", \"keyFile\": \"mismatch.key\"}]}},"
                + "\"backends\": [{\"url\": \"http://127.0.0.1:1\"}]}");
        assertThatThrownBy(() -> new ProxyServer(ConfigLoader.load(mismatched)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("listen.tls.certificates[0].keyFile: " + dir.resolve("mismatch.key")
                        + ": not the private key of the certificate");
    }

    // ---------------------------------------------------------------- helpers

    /**
     * A subjectAltName extension's value of DNS names (RFC 5280 section 4.2.1.6), DER-encoded by
     * hand: the certificate builder's own method does not take wildcard names.
     */
    private static byte[] dnsNames(String... names) {
        ByteArrayOutputStream sequence = new ByteArrayOutputStream();
        for (String name : names) {
            byte[] ascii = name.getBytes(StandardCharsets.US_ASCII);
            sequence.write(0x82); // [2] IMPLICIT IA5String: dNSName
            sequence.write(ascii.length);
            sequence.writeBytes(ascii);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0x30); // SEQUENCE; every length here is under 128, so one byte each
        out.write(sequence.size());
        out.writeBytes(sequence.toByteArray());
        return out.toByteArray();
    }

    /** A DER OCSP response from the test CA saying the first certificate in {@code pem} is good for a day. */
    private static byte[] ocspGood(Path pem) throws Exception {
        X509Certificate leaf;
        try (InputStream in = Files.newInputStream(pem)) {
            leaf = (X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        var digests = new org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder().build();
        var issuer = new org.bouncycastle.cert.jcajce.JcaX509CertificateHolder(ca.getCertificate());
        var id = new org.bouncycastle.cert.ocsp.CertificateID(digests.get(org.bouncycastle.cert.ocsp.CertificateID.HASH_SHA1),
                issuer, leaf.getSerialNumber());
        var builder = new org.bouncycastle.cert.ocsp.jcajce.JcaBasicOCSPRespBuilder(ca.getCertificate().getPublicKey(),
                digests.get(org.bouncycastle.cert.ocsp.RespID.HASH_SHA1));
        java.util.Date now = new java.util.Date();
        builder.addResponse(id, org.bouncycastle.cert.ocsp.CertificateStatus.GOOD, now,
                new java.util.Date(now.getTime() + 86_400_000L));
        var basic = builder.build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withECDSA")
                .build(ca.getKeyPair().getPrivate()), new org.bouncycastle.cert.X509CertificateHolder[] {issuer}, now);
        return new org.bouncycastle.cert.ocsp.OCSPRespBuilder()
                .build(org.bouncycastle.cert.ocsp.OCSPRespBuilder.SUCCESSFUL, basic).getEncoded();
    }

    private static CertificateBuilder leaf(String subject) {
        return new CertificateBuilder().subject(subject).notBefore(java.time.Instant.now().minusSeconds(60))
                .addExtendedKeyUsageServerAuth();
    }

    /** Writes NAME.pem (the chain without the root) and NAME.key, replacing what was there at once. */
    private static void writeCertificate(String name, CertificateBuilder builder) throws Exception {
        X509Bundle bundle = builder.buildIssuedBy(ca);
        Path pem = Files.writeString(dir.resolve(name + ".pem.new"), bundle.getCertificatePathPEM());
        Path key = Files.writeString(dir.resolve(name + ".key.new"), bundle.getPrivateKeyPEM());
        Files.move(key, dir.resolve(name + ".key"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Files.move(pem, dir.resolve(name + ".pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    private static String subjectFor(String serverName) throws IOException {
        return subjectFor(proxy.port(1), serverName);
    }

    private static String subjectFor(int port, String serverName) throws IOException {
        try (SSLSocket socket = connect(port, serverName, null, null, null)) {
            return subjectOf(socket);
        }
    }

    private static String subjectOf(SSLSocket socket) throws IOException {
        return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
    }

    /**
     * A handshaken TLS connection. {@code serverName}: the SNI name, or none; {@code alpn}, {@code
     * version}, {@code suite}: what the client offers, or the JDK's defaults.
     */
    private static SSLSocket connect(int port, String serverName, List<String> alpn, String version, String suite)
            throws IOException {
        Socket tcp = new Socket();
        tcp.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        tcp.setSoTimeout(10_000);
        // A context of its own: no session of an earlier connection is resumed, so each handshake
        // shows the certificate the proxy chooses now.
        SSLContext context;
        try {
            context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {ca.toTrustManager()}, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
        SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(tcp, "127.0.0.1", port, true);
        try {
            SSLParameters parameters = socket.getSSLParameters();
            parameters.setServerNames(serverName == null ? List.of() : List.of(new SNIHostName(serverName)));
            if (alpn != null) {
                parameters.setApplicationProtocols(alpn.toArray(String[]::new));
            }
            if (version != null) {
                parameters.setProtocols(new String[] {version});
            }
            if (suite != null) {
                parameters.setCipherSuites(new String[] {suite});
            }
            socket.setSSLParameters(parameters);
            socket.startHandshake();
            return socket;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static String exchange(Socket socket, String request) throws IOException {
        socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
        return readAll(socket.getInputStream());
    }

    private static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toString(StandardCharsets.ISO_8859_1);
    }
}
