package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RelayTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(2);

    @ParameterizedTest
    @ValueSource(strings = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
    void relaysMethodPathAndQueryByteExact(String method) throws Exception {
        String target = "/a%20b/c;p=1/%7Euser?q=a+b&x=%2F&empty=&utf=%C3%A9";
        String body = method.equals("GET") || method.equals("DELETE") || method.equals("OPTIONS") ? "" : "payload-" + method;
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(method + " " + target + " HTTP/1.1\r\nHost: example.test\r\nContent-Length: " + body.length()
                    + "\r\n\r\n" + body);
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            JsonNode echo = JSON.readTree(response.body());
            assertThat(echo.get("method").asText()).isEqualTo(method);
            assertThat(echo.get("path").asText()).isEqualTo("/a%20b/c;p=1/%7Euser");
            assertThat(echo.get("query").asText()).isEqualTo("q=a+b&x=%2F&empty=&utf=%C3%A9");
            assertThat(echo.get("body_bytes").asLong()).isEqualTo(body.length());
            assertThat(echo.get("headers").get("host").get(0).asText()).isEqualTo("example.test");
        }
    }

    @Test
    void headGetsHeadersWithoutBody() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("HEAD /stream?bytes=999 HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response head = raw.read(true);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.header("content-length")).isEqualTo("999");
            // The connection stays usable: the next response starts right where HEAD's ended.
            raw.send("GET /stream?bytes=5 HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response next = raw.read();
            assertThat(next.status()).isEqualTo(200);
            assertThat(next.body()).hasSize(5);
        }
    }

    @Test
    void roundRobinsAcrossBackends() throws Exception {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            HttpResponse<String> r = proxy.get("/rr");
            assertThat(r.statusCode()).isEqualTo(200);
            counts.merge(JSON.readTree(r.body()).get("backend").asText(), 1, Integer::sum);
        }
        assertThat(counts).containsOnlyKeys("backend1", "backend2");
        assertThat(counts.get("backend1")).isEqualTo(10);
        assertThat(counts.get("backend2")).isEqualTo(10);
    }

    @Test
    void appendsForwardedForAndSetsForwardedHeaders() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /xff HTTP/1.1\r\nHost: shop.example:8443\r\nX-Forwarded-For: 203.0.113.7\r\n"
                    + "X-Forwarded-For: 198.51.100.1\r\nX-Real-IP: 6.6.6.6\r\n\r\n");
            JsonNode headers = JSON.readTree(raw.read().body()).get("headers");
            assertThat(headers.get("x-forwarded-for").get(0).asText()).isEqualTo("203.0.113.7, 198.51.100.1, 127.0.0.1");
            assertThat(headers.get("x-forwarded-for")).hasSize(1);
            assertThat(headers.get("x-forwarded-proto").get(0).asText()).isEqualTo("http");
            assertThat(headers.get("x-forwarded-host").get(0).asText()).isEqualTo("shop.example:8443");
            assertThat(headers.get("x-real-ip").get(0).asText()).isEqualTo("127.0.0.1");
            assertThat(headers.get("host").get(0).asText()).isEqualTo("shop.example:8443");
        }
    }

    @Test
    void uploadsAndDownloadsTenMebibytesByteExact() throws Exception {
        byte[] payload = new byte[10 * 1024 * 1024];
        new Random(42).nextBytes(payload);
        HttpResponse<byte[]> echoed = proxy.client().send(
                HttpRequest.newBuilder(proxy.uri("/echo")).POST(BodyPublishers.ofByteArray(payload)).build(),
                BodyHandlers.ofByteArray());
        assertThat(echoed.statusCode()).isEqualTo(200);
        assertThat(sha256(echoed.body())).isEqualTo(sha256(payload));

        // Chunked upload (no length known up front).
        HttpResponse<String> sunk = proxy.client().send(
                HttpRequest.newBuilder(proxy.uri("/sink"))
                        .POST(BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(payload))).build(),
                BodyHandlers.ofString());
        assertThat(JSON.readTree(sunk.body()).get("body_bytes").asLong()).isEqualTo(payload.length);

        for (String chunked : new String[] {"0", "1"}) {
            HttpResponse<InputStream> download = proxy.client().send(
                    HttpRequest.newBuilder(proxy.uri("/stream?bytes=10485760&chunked=" + chunked)).build(),
                    BodyHandlers.ofInputStream());
            assertThat(download.statusCode()).isEqualTo(200);
            try (InputStream in = download.body()) {
                assertThat(countPatternBytes(in)).isEqualTo(10L * 1024 * 1024);
            }
        }
    }

    @Test
    void reusesUpstreamConnections() throws Exception {
        int before1 = proxy.backend(0).acceptedConnections();
        int before2 = proxy.backend(1).acceptedConnections();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            for (int i = 0; i < 50; i++) {
                raw.send("GET /reuse/" + i + " HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().status()).isEqualTo(200);
            }
        }
        // One client connection lives on one event loop, whose pool keeps one connection per
        // backend alive across all 50 requests.
        int opened = proxy.backend(0).acceptedConnections() - before1 + proxy.backend(1).acceptedConnections() - before2;
        assertThat(opened).isBetween(0, 2);
    }

    @Test
    void servesHttp10ClientsAndClosesUnlessKeepAliveAsked() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /stream?bytes=100&chunked=1 HTTP/1.0\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.statusLine()).startsWith("HTTP/1.1 200");
            assertThat(r.header("transfer-encoding")).isNull();
            assertThat(r.body()).hasSize(100);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /stream?bytes=10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.body()).hasSize(10);
            assertThat(r.header("connection")).isEqualToIgnoringCase("keep-alive");
            raw.send("GET /stream?bytes=7 HTTP/1.0\r\n\r\n");
            assertThat(raw.read().body()).hasSize(7);
        }
    }

    @Test
    void answersAClientThatShutsDownItsSendingSideAfterTheRequest() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
            raw.socket().shutdownOutput();
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).contains("\"body_bytes\":5");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void http10RequestWithoutHostReachesTheBackendAsHttp11WithHost() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /nohost HTTP/1.0\r\n\r\n");
            JsonNode headers = JSON.readTree(raw.read().body()).get("headers");
            assertThat(headers.get("host").get(0).asText()).startsWith("127.0.0.1:");
        }
    }

    @Test
    void relaysContinueBeforeTheBodyIsSent() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
            RawHttp.Response interim = raw.read();
            assertThat(interim.status()).isEqualTo(100);
            raw.send("body");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).contains("\"body_bytes\":4");
        }
    }

    @Test
    void answersPipelinedRequestsInOrder() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=200 HTTP/1.1\r\nHost: h\r\n\r\nGET /p2 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /p3 HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(JSON.readTree(raw.read().body()).get("path").asText()).isEqualTo("/delay");
            assertThat(JSON.readTree(raw.read().body()).get("path").asText()).isEqualTo("/p2");
            assertThat(JSON.readTree(raw.read().body()).get("path").asText()).isEqualTo("/p3");
        }
    }

    @Test
    void pipelinedLocalHealthRequestWaitsForTheExchangeBeforeIt() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=300 HTTP/1.1\r\nHost: h\r\n\r\nGET /_health HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(JSON.readTree(raw.read().body()).get("path").asText()).isEqualTo("/delay");
            assertThat(JSON.readTree(raw.read().body()).get("status").asText()).isEqualTo("healthy");
            assertThat(JSON.readTree(raw.read().body()).get("path").asText()).isEqualTo("/after");
        }
    }

    @Test
    void twoHundredConcurrentClientsGetTheirOwnResponses() throws Exception {
        java.util.concurrent.ExecutorService executor = java.util.concurrent.Executors.newFixedThreadPool(8);
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor).build();
        try {
            List<CompletableFuture<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                String id = "client-" + i;
                byte[] body = (id + "-body").repeat(50 + i).getBytes();
                HttpRequest req = HttpRequest.newBuilder(proxy.uri("/echo?id=" + id))
                        .timeout(Duration.ofSeconds(60))
                        .POST(BodyPublishers.ofByteArray(body)).build();
                results.add(client.sendAsync(req, BodyHandlers.ofByteArray())
                        .thenApply(r -> r.statusCode() == 200 && java.util.Arrays.equals(r.body(), body)));
            }
            CompletableFuture.allOf(results.toArray(new CompletableFuture[0])).get(90, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(results).allSatisfy(f -> assertThat(f.getNow(false)).isTrue());
        } finally {
            executor.shutdownNow();
        }
    }

    static long countPatternBytes(InputStream in) throws Exception {
        byte[] buf = new byte[65536];
        long index = 0;
        int n;
        while ((n = in.read(buf)) > 0) {
            for (int i = 0; i < n; i++) {
                if (buf[i] != TestBackend.patternByte(index + i)) {
                    throw new AssertionError("byte " + (index + i) + " differs");
                }
            }
            index += n;
        }
        return index;
    }

    static String sha256(byte[] data) throws Exception {
        return java.util.HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
