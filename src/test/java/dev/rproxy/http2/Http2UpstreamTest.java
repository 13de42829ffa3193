package dev.rproxy.http2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.config.ConfigLoader;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.H2Backend;
import dev.rproxy.support.H2cClient;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.RefusingPort;
import dev.rproxy.support.TlsBackend;
import dev.rproxy.support.TestCertificates;
import dev.rproxy.testbackend.TestBackend;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 to backends: {@code "protocol": "h2c"} (prior knowledge) and {@code "h2"} (TLS, agreed by
 * ALPN), from HTTP/1.1 and HTTP/2 clients alike; trailers both ways and gRPC passing through; the
 * pool opening another connection when a backend's {@code MAX_CONCURRENT_STREAMS} is reached; and
 * requests the backend never processed (REFUSED_STREAM, GOAWAY) sent again, POST included.
 */
class Http2UpstreamTest {
    @TempDir
    static Path dir;

    private static X509Bundle server;
    private static H2Backend h2c;
    private static H2Backend h2tls;
    private static ProxyServer proxy;
    private static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        X509Bundle ca = TestCertificates.ca();
        server = new CertificateBuilder().subject("CN=backend.test").addSanDnsName("localhost")
                .addSanIpAddress("127.0.0.1").notBefore(Instant.now().minusSeconds(60)).addExtendedKeyUsageServerAuth()
                .ecp256().buildIssuedBy(ca);
        Files.writeString(dir.resolve("ca.pem"), ca.getRootCertificatePEM());
        h2c = new H2Backend(100);
        h2tls = new H2Backend(server.toKeyManagerFactory(), 100);
        proxy = proxy("{\"id\": \"h2c\", \"url\": \"http://127.0.0.1:" + h2c.port() + "\", \"protocol\": \"h2c\"}", true, "");
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.shutdown();
        }
        for (H2Backend b : new H2Backend[] {h2c, h2tls}) {
            if (b != null) {
                b.close();
            }
        }
    }

    /** A proxy (HTTP/1.1 listener first, then h2c) in front of {@code backendJson}. */
    private static ProxyServer proxy(String backendJson, boolean health, String extra) throws Exception {
        Path config = Files.writeString(dir.resolve("proxy-" + System.nanoTime() + ".json"), "{\"listen\": ["
                + "{\"host\": \"127.0.0.1\", \"port\": 0},"
                + "{\"host\": \"127.0.0.1\", \"port\": 0, \"protocols\": [\"h2c\", \"http/1.1\"]}],"
                + "\"backends\": [" + backendJson + "],"
                + "\"healthCheck\": " + (health ? "{\"intervalMs\": 200, \"timeoutMs\": 1000}" : "{\"enabled\": false}")
                + extra + "}");
        ProxyServer p = new ProxyServer(ConfigLoader.load(config));
        p.start();
        return p;
    }

    private static HttpResponse<String> get(ProxyServer p, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p.port(0) + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(ProxyServer p, String path, byte[] body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p.port(0) + path))
                .timeout(Duration.ofSeconds(10)).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static Http2Headers h2Request(String method, String path) {
        return new DefaultHttp2Headers().method(method).scheme("http").authority("app.test").path(path);
    }

    @Test
    void anHttp11RequestGoesToAnH2cBackendAsAStream() throws Exception {
        assertThat(proxy.backends().routable()).as("healthy by a probe over h2c").hasSize(1);
        HttpResponse<String> response = get(proxy, "/hello?x=1");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).isEqualTo("method=GET path=/hello?x=1 authority=127.0.0.1:" + proxy.port(0)
                + " scheme=http te=trailers bytes=0 trailers=none protocol=h2\n");
        assertThat(response.headers().firstValue("content-length")).hasValue(Integer.toString(response.body().length()));
    }

    @Test
    void bodiesStreamBothWaysWithFlowControl() throws Exception {
        byte[] upload = new byte[3 * 1024 * 1024 + 17];
        HttpResponse<String> sent = post(proxy, "/upload", upload);
        assertThat(sent.statusCode()).isEqualTo(200);
        assertThat(sent.body()).contains("method=POST ").contains(" bytes=" + upload.length + " ");

        HttpResponse<byte[]> big = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port(0)
                + "/big?bytes=" + (20 << 20))).timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertThat(big.statusCode()).isEqualTo(200);
        assertThat(big.body()).hasSize(20 << 20);
    }

    @Test
    void trailersPassBothWays() throws Exception {
        // HTTP/1.1 client: request trailers in the chunked body reach the backend...
        try (RawHttp raw = new RawHttp(proxy.port(0))) {
            raw.send("POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
                    + "Connection: TE\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: c0ffee\r\n\r\n");
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.bodyText()).contains(" te=trailers ").contains(" bytes=5 ").contains(" trailers=c0ffee ");
        }
        // ...and response trailers come back in the last chunk.
        try (RawHttp raw = new RawHttp(proxy.port(0))) {
            raw.send("GET /trailers HTTP/1.1\r\nHost: app.test\r\n\r\n");
            raw.socket().setSoTimeout(10_000);
            InputStream in = raw.socket().getInputStream();
            StringBuilder received = new StringBuilder();
            while (!received.toString().endsWith("\r\n\r\n") || received.indexOf("\r\n0\r\n") < 0) {
                int b = in.read();
                assertThat(b).as("the response so far: " + received).isNotNegative();
                received.append((char) b);
            }
            String text = received.toString();
            assertThat(text).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked")
                    .contains("body before trailers\n").containsIgnoringCase("\r\n0\r\nx-checksum: abc123\r\n")
                    .containsIgnoringCase("grpc-status: 0\r\n");
        }
        // An HTTP/2 client gets them as a trailing HEADERS frame.
        try (H2cClient client = new H2cClient(proxy.port(1))) {
            H2cClient.Response response = client.send(h2Request("GET", "/trailers"), null).get(10, TimeUnit.SECONDS);
            assertThat(response.status()).isEqualTo(200);
            assertThat(new String(response.body(), StandardCharsets.UTF_8)).isEqualTo("body before trailers\n");
            assertThat(response.trailers()).isNotNull();
            assertThat(response.trailers().get("x-checksum").toString()).isEqualTo("abc123");
        }
    }

    @Test
    void grpcPassesThroughUnchanged() throws Exception {
        byte[] message = {0, 0, 0, 0, 3, 8, 1, 16}; // a length-prefixed message, as gRPC frames one
        try (H2cClient client = new H2cClient(proxy.port(1))) {
            Http2Headers headers = h2Request("POST", "/grpc").set("content-type", "application/grpc").set("te", "trailers");
            H2cClient.Response response = client.send(headers, message, null).get(10, TimeUnit.SECONDS);
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.headers().get("content-type").toString()).isEqualTo("application/grpc");
            assertThat(response.body()).isEqualTo(message);
            assertThat(response.trailers().get("grpc-status").toString()).isEqualTo("0");
            assertThat(response.trailers().get("grpc-message").toString()).isEqualTo("OK");

            // A trailers-only answer (one HEADERS frame with END_STREAM) stays one.
            H2cClient.Response only = client.send(h2Request("POST", "/trailers-only")
                    .set("content-type", "application/grpc").set("te", "trailers"), message, null).get(10, TimeUnit.SECONDS);
            assertThat(only.status()).isEqualTo(200);
            assertThat(only.headers().get("grpc-status").toString()).isEqualTo("5");
            assertThat(only.body()).isEmpty();
        }
    }

    @Test
    void h2OverTlsIsAgreedByAlpnAndProbed() throws Exception {
        ProxyServer p = proxy("{\"url\": \"https://127.0.0.1:" + h2tls.port() + "\", \"protocol\": \"h2\","
                + " \"tls\": {\"caFile\": \"ca.pem\"}}", true, "");
        try {
            assertThat(p.backends().routable()).as("healthy by a probe over h2").hasSize(1);
            HttpResponse<String> response = get(p, "/over-tls");
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).startsWith("method=GET path=/over-tls ").contains(" scheme=https ");
        } finally {
            p.shutdown();
        }
    }

    @Test
    void aBackendThatDoesNotSpeakHttp2Is502() throws Exception {
        // h2 to a TLS backend without ALPN h2 (the JDK's HTTPS server), h2c to an HTTP/1.1 one.
        try (TlsBackend tls = new TlsBackend(server.toKeyManagerFactory(), null); TestBackend plain = TestBackend.start("plain", 0)) {
            for (String backend : new String[] {
                "{\"url\": \"https://127.0.0.1:" + tls.port() + "\", \"protocol\": \"h2\", \"tls\": {\"caFile\": \"ca.pem\"}}",
                "{\"url\": \"http://127.0.0.1:" + plain.port() + "\", \"protocol\": \"h2c\"}"}) {
                ProxyServer p = proxy(backend, false, "");
                try {
                    HttpResponse<String> response = get(p, "/");
                    assertThat(response.statusCode()).as(backend).isEqualTo(502);
                } finally {
                    p.shutdown();
                }
            }
        }
    }

    @Test
    void anHttp2BackendThatRefusesConnectionsIsLeftForAnotherAtOnce() throws Exception {
        try (RefusingPort refusing = new RefusingPort()) {
            refusedThenElsewhere(refusing.port());
        }
    }

    private void refusedThenElsewhere(int closedPort) throws Exception {
        ProxyServer p = proxy("{\"id\": \"down\", \"url\": \"http://127.0.0.1:" + closedPort + "\", \"protocol\": \"h2c\"},"
                + "{\"id\": \"up\", \"url\": \"http://127.0.0.1:" + h2c.port() + "\", \"protocol\": \"h2c\"}", false, "");
        try {
            for (int i = 0; i < 4; i++) {
                long start = System.nanoTime();
                HttpResponse<String> response = get(p, "/either");
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("protocol=h2");
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
            }
        } finally {
            p.shutdown();
        }
        ProxyServer alone = proxy("{\"url\": \"http://127.0.0.1:" + closedPort + "\", \"protocol\": \"h2c\"}", false, "");
        try {
            HttpResponse<String> response = get(alone, "/nowhere");
            assertThat(response.statusCode()).isEqualTo(502);
            assertThat(response.body()).contains("backend connection failed");
        } finally {
            alone.shutdown();
        }
    }

    @Test
    void anHttp2ConnectionWithNoStreamClosesAfterThePoolsIdleTimeout() throws Exception {
        try (H2Backend b = new H2Backend(100)) {
            ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + b.port() + "\", \"protocol\": \"h2c\"}", false,
                    ", \"pool\": {\"idleTimeoutMs\": 300}");
            try {
                assertThat(get(p, "/once").statusCode()).isEqualTo(200);
                assertThat(b.connections()).isEqualTo(1);
                await().atMost(Duration.ofSeconds(5)).until(() -> b.openConnections() == 0);
                // The next request opens a new one.
                assertThat(get(p, "/again").statusCode()).isEqualTo(200);
                assertThat(b.connections()).isEqualTo(2);
            } finally {
                p.shutdown();
            }
        }
    }

    @Test
    void aBackendThatConnectsButSendsNoSettingsIsAFailedConnect() throws Exception {
        // Accepts the TCP connection and then says nothing, never its HTTP/2 settings.
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            ProxyServer alone = proxy("{\"url\": \"http://127.0.0.1:" + silent.getLocalPort() + "\", \"protocol\": \"h2c\"}",
                    false, ", \"timeouts\": {\"connectMs\": 500}");
            try {
                long start = System.nanoTime();
                HttpResponse<String> response = get(alone, "/silent");
                assertThat(response.statusCode()).isEqualTo(504);
                assertThat(response.body()).contains("backend connect timed out");
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
            } finally {
                alone.shutdown();
            }
            ProxyServer beside = proxy("{\"id\": \"silent\", \"url\": \"http://127.0.0.1:" + silent.getLocalPort()
                    + "\", \"protocol\": \"h2c\"}, {\"id\": \"up\", \"url\": \"http://127.0.0.1:" + h2c.port()
                    + "\", \"protocol\": \"h2c\"}", false, ", \"timeouts\": {\"connectMs\": 500}");
            try {
                for (int i = 0; i < 3; i++) {
                    assertThat(get(beside, "/either").statusCode()).isEqualTo(200);
                }
            } finally {
                beside.shutdown();
            }
        }
    }

    @Test
    void noWaitingRoomIsNeededForTheRequestThatOpensAConnection() throws Exception {
        ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + h2c.port() + "\", \"protocol\": \"h2c\"}", false,
                ", \"pool\": {\"maxPendingAcquires\": 0}");
        try {
            assertThat(get(p, "/first").statusCode()).isEqualTo(200);
            assertThat(get(p, "/second").statusCode()).isEqualTo(200);
        } finally {
            p.shutdown();
        }
    }

    @Test
    void aConnectionToldGoAwayWhileBusyMakesWayForANewOneAtOnce() throws Exception {
        // One connection at most, one stream on it: a request waits while the slow one runs.
        try (H2Backend b = new H2Backend(1)) {
            ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + b.port() + "\", \"protocol\": \"h2c\"}", false,
                    ", \"server\": {\"ioThreads\": 1}, \"pool\": {\"maxConnectionsPerBackend\": 1}");
            try {
                CompletableFuture<HttpResponse<String>> slow = http.sendAsync(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + p.port(0) + "/goaway-slow")).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString());
                await().atMost(Duration.ofSeconds(5)).until(() -> b.requests("/goaway-slow") == 1);
                // The connection gets GOAWAY while its stream runs: it no longer holds the pool's one
                // place, so this request gets a new connection instead of waiting for that stream.
                HttpResponse<String> quick = get(p, "/quick");
                assertThat(quick.statusCode()).isEqualTo(200);
                assertThat(slow).as("served before the slow stream ended").isNotDone();
                assertThat(slow.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
                assertThat(b.connections()).isEqualTo(2);
            } finally {
                p.shutdown();
            }
        }
    }

    @Test
    void moreConnectionsOpenWhenEveryStreamIsBusy() throws Exception {
        try (H2Backend narrow = new H2Backend(2)) {
            ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + narrow.port() + "\", \"protocol\": \"h2c\"}", false,
                    ", \"server\": {\"ioThreads\": 1}");
            try {
                List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    answers.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p.port(0)
                            + "/slow?ms=400")).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()));
                }
                for (CompletableFuture<HttpResponse<String>> answer : answers) {
                    assertThat(answer.get(15, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
                }
                assertThat(narrow.requests("/slow")).as("no stream refused and sent again").isEqualTo(6);
                assertThat(narrow.connections()).as("two streams per connection").isEqualTo(3);
                assertThat(narrow.maxConcurrent()).isEqualTo(6);
            } finally {
                p.shutdown();
            }
        }
    }

    @Test
    void aStreamTheBackendNeverProcessedIsSentAgainEvenAPost() throws Exception {
        try (H2Backend b = new H2Backend(100)) {
            ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + b.port() + "\", \"protocol\": \"h2c\"}", false, "");
            try {
                HttpResponse<String> refused = post(p, "/refuse-once", "order=1".getBytes(StandardCharsets.UTF_8));
                assertThat(refused.statusCode()).isEqualTo(200);
                assertThat(refused.body()).contains("method=POST path=/refuse-once ").contains(" bytes=7 ");
                assertThat(b.requests("/refuse-once")).isEqualTo(2);

                HttpResponse<String> goneAway = post(p, "/goaway-once", "order=2".getBytes(StandardCharsets.UTF_8));
                assertThat(goneAway.statusCode()).isEqualTo(200);
                assertThat(goneAway.body()).contains("method=POST path=/goaway-once ");
                assertThat(b.requests("/goaway-once")).isEqualTo(2);
                assertThat(b.connections()).as("a new connection after GOAWAY").isEqualTo(2);
            } finally {
                p.shutdown();
            }
        }
    }

    @Test
    void aSlowClientHoldsBackOnlyItsOwnStream() throws Exception {
        ProxyServer p = proxy("{\"url\": \"http://127.0.0.1:" + h2c.port() + "\", \"protocol\": \"h2c\"}", false,
                ", \"server\": {\"ioThreads\": 1}");
        try (Socket slow = new Socket("127.0.0.1", p.port(0))) {
            slow.setReceiveBufferSize(16 * 1024);
            slow.getOutputStream().write(("GET /big?bytes=" + (64 << 20) + " HTTP/1.1\r\nHost: app.test\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            InputStream in = slow.getInputStream();
            assertThat(in.readNBytes(12)).asString(StandardCharsets.US_ASCII).isEqualTo("HTTP/1.1 200");
            // The slow client reads no more; on the same backend connection others go on.
            for (int i = 0; i < 5; i++) {
                assertThat(get(p, "/other").statusCode()).isEqualTo(200);
            }
            HttpResponse<byte[]> big = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p.port(0)
                    + "/big?bytes=" + (4 << 20))).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertThat(big.body()).hasSize(4 << 20);
        } finally {
            p.shutdown();
        }
    }
}
