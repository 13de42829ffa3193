package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HeaderSanitizingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1);

    @Test
    void hopByHopAndConnectionNamedHeadersNeverReachTheBackend() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /h HTTP/1.1\r\nHost: h\r\n"
                    + "Connection: keep-alive, X-Secret\r\nConnection: x-other\r\n"
                    + "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
                    + "Trailer: X-T\r\nUpgrade: h2c\r\nX-Secret: s\r\nX-Other: o\r\nX-Kept: k\r\n\r\n");
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            JsonNode headers = JSON.readTree(response.body()).get("headers");
            assertThat(headers.fieldNames()).toIterable()
                    .doesNotContain("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                            "x-secret", "x-other")
                    .contains("x-kept", "host", "x-forwarded-for");
        }
    }

    @Test
    void chunkedRequestStaysChunkedWithNothingElseOfTheClientsFraming() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink-json HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
            JsonNode echo = JSON.readTree(raw.read().body());
            assertThat(echo.get("body_bytes").asLong()).isEqualTo(11);
            assertThat(echo.get("headers").get("transfer-encoding").get(0).asText()).isEqualTo("chunked");
            assertThat(echo.get("headers").has("content-length")).isFalse();
        }
    }

    @Test
    void contentLengthNamedInConnectionIsStillForwarded() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /cl HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\nabc");
            JsonNode echo = JSON.readTree(raw.read().body());
            assertThat(echo.get("body_bytes").asLong()).isEqualTo(3);
        }
    }

    @Test
    void hopByHopResponseHeadersAreRemovedAndRepeatedOnesKept() throws Exception {
        String response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: X-Backend-Secret\r\n"
                + "X-Backend-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTrailer: X-T\r\n"
                + "Upgrade: foo\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\nX-Kept: yes\r\n\r\nhello";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("hello");
                assertThat(r.headerMap()).doesNotContainKeys("x-backend-secret", "keep-alive", "proxy-connection",
                        "trailer", "upgrade", "connection");
                assertThat(r.headers("set-cookie")).containsExactly("a=1", "b=2; Path=/");
                assertThat(r.header("x-kept")).isEqualTo("yes");
                assertThat(backend.nextRequest(5, TimeUnit.SECONDS)).startsWith("GET /r HTTP/1.1\r\n");
            }
        }
    }

    @Test
    void fieldLinesKeptGoOutInOrderAsNameColonSpaceValueAndThoseAddedFollow() throws Exception {
        String response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Tight:t\r\nX-Loose: \t l  m \r\n"
                + "Keep-Alive: timeout=5\r\nx-same: s\r\nX-Empty:\r\n\r\nok";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /f HTTP/1.1\r\nHost: h\r\nX-Tight:t\r\nX-Loose:  l \r\nConnection: x-gone\r\n"
                        + "x-gone: g\r\nx-same: s\r\nX-Forwarded-For: 192.0.2.7\r\nX-Last: z\r\nX-Request-Id: r-1\r\n\r\n");
                String head = RawBackend.readHead(raw.socket().getInputStream());
                assertThat(head).isEqualTo("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Tight: t\r\n"
                        + "X-Loose: l  m\r\nx-same: s\r\nX-Empty: \r\n\r\n");
                assertThat(backend.nextRequest(5, TimeUnit.SECONDS)).isEqualTo("GET /f HTTP/1.1\r\nHost: h\r\n"
                        + "X-Tight: t\r\nX-Loose: l\r\nx-same: s\r\nX-Last: z\r\nX-Request-Id: r-1\r\n"
                        + "x-forwarded-for: 192.0.2.7, 127.0.0.1\r\nx-forwarded-proto: http\r\n"
                        + "x-forwarded-host: h\r\nx-real-ip: 127.0.0.1\r\n\r\n");
            }
        }
    }

    /** Connection's elements are read case-insensitively and one by one, among others and spaces. */
    @Test
    void connectionElementsDecidePersistenceWhateverTheirCaseAndPlaceInTheList() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /a HTTP/1.1\r\nHost: h\r\nconnection: X-Other ,  CLOSE\t\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("connection")).isEqualTo("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /b HTTP/1.0\r\nCONNECTION: Keep-Alive\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("connection")).isEqualToIgnoringCase("keep-alive");
            raw.send("GET /c HTTP/1.0\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void closeDelimitedResponseIsRechunkedForHttp11Clients() throws Exception {
        String response = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nuntil the end";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /close-delimited HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.header("transfer-encoding")).isEqualTo("chunked");
                assertThat(r.bodyText()).isEqualTo("until the end");
                // The client connection stays usable although the backend's closed.
                raw.send("GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().bodyText()).isEqualTo("until the end");
            }
        }
    }

    @Test
    void closeDelimitedResponseReachesASlowClientWhole() throws Exception {
        // The backend sends 8 MiB without a length and closes at once; the client reads nothing
        // until the proxy has long seen that close, so the proxy holds the backend back meanwhile.
        String body = "0123456789abcdef".repeat(8 * 65536);
        try (RawBackend backend = new RawBackend("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body);
                ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.socket().setReceiveBufferSize(64 * 1024);
                raw.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(backend.nextRequest(5, TimeUnit.SECONDS)).isNotNull();
                Thread.sleep(500); // the slow reader is the point: it stalls while the backend closes
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo(body);
            }
        }
    }

    @Test
    void notModifiedAndHeadResponsesKeepTheClientConnection() throws Exception {
        try (RawBackend backend = new RawBackend("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
                ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /cached HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(304);
                assertThat(r.header("connection")).isNull();
                backend.respondWith("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                raw.send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response head = raw.read(true);
                assertThat(head.status()).isEqualTo(200);
                assertThat(head.header("connection")).isNull();
                backend.respondWith("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                raw.send("GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().bodyText()).isEqualTo("ok");
            }
        }
    }

    /**
     * 204 and 304 carry no body whatever framing the backend sent with them, nor does the answer to
     * HEAD: the client gets the head alone, and the next response on its connection starts right
     * after it, not with the bytes the backend put after the head.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "GET  | HTTP/1.1 204 No Content\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        "GET  | HTTP/1.1 204 No Content\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n",
        "GET  | HTTP/1.1 304 Not Modified\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        "GET  | HTTP/1.1 304 Not Modified\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n",
        "HEAD | HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        "HEAD | HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n"})
    void bodilessResponsesCarryNoBodyWhateverTheBackendSent(String method, String escaped) throws Exception {
        String response = escaped.replace("\\r", "\r").replace("\\n", "\n");
        int status = Integer.parseInt(response.substring(9, 12));
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send(method + " /nobody HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read(true);
                assertThat(r.status()).isEqualTo(status);
                assertThat(r.header("transfer-encoding")).isNull();
                if (status == 204) {
                    assertThat(r.header("content-length")).isNull();
                }
                backend.respondWith("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext");
                raw.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response next = raw.read();
                assertThat(next.statusLine()).isEqualTo("HTTP/1.1 200 OK");
                assertThat(next.bodyText()).isEqualTo("next");
            }
        }
    }

    @Test
    void closeDelimitedResponseStaysCloseDelimitedForHttp10Clients() throws Exception {
        String response = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nuntil the end";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /close-delimited HTTP/1.0\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.header("transfer-encoding")).isNull();
                assertThat(r.header("content-length")).isNull();
                assertThat(r.header("connection")).isEqualToIgnoringCase("close");
                assertThat(r.bodyText()).isEqualTo("until the end"); // read to the close
            }
        }
    }

    @Test
    void interimResponsesAreNotSentToHttp10Clients() throws Exception {
        String response = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /hints HTTP/1.0\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).isEqualTo("body");
            }
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /hints HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response interim = raw.read();
                assertThat(interim.status()).isEqualTo(103);
                assertThat(interim.header("link")).isEqualTo("</s.css>; rel=preload");
                assertThat(raw.read().bodyText()).isEqualTo("body");
            }
        }
    }

    @Test
    void connectIsRefusedWith405AndNeverForwarded() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            long before = proxy.backend(0).requestCount();
            raw.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(405);
            assertThat(r.header("allow")).isEqualTo("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE");
            assertThat(proxy.backend(0).requestCount()).isEqualTo(before);
        }
    }

    @Test
    void chunkedResponseWithTrailerFieldsIsRelayedChunked() throws Exception {
        String response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        try (RawBackend backend = new RawBackend(response); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(port(server))) {
                raw.send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.header("transfer-encoding")).isEqualTo("chunked");
                assertThat(r.header("content-length")).isNull();
                assertThat(r.bodyText()).isEqualTo("abcde");
            }
        }
    }

    private static ProxyServer start(RawBackend backend) throws Exception {
        return ProxyExtension.startInFrontOf(backend.url(), "");
    }

    private static int port(ProxyServer server) {
        return server.port();
    }
}
