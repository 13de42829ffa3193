package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The optional "security" section: dot segments and encoded NUL refused, methods limited. */
class SecurityTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final ProxyExtension strict = ProxyExtension.withBackends(1)
            .config("\"security\":{\"rejectDotSegments\":true,\"allowedMethods\":[\"GET\",\"HEAD\",\"POST\"]}");

    @RegisterExtension
    static final ProxyExtension connectListed = ProxyExtension.withBackends(1)
            .config("\"security\":{\"allowedMethods\":[\"GET\",\"CONNECT\"]}");

    @RegisterExtension
    static final ProxyExtension lenient = ProxyExtension.withBackends(1);

    @ParameterizedTest
    @ValueSource(strings = {"/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E%2e/b", "/a/.%2e/b", "/a/%2e/b",
        "/a%00b", "/a?x=%00"})
    void dotSegmentsAndEncodedNulAreRefused(String target) throws Exception {
        long before = strict.backend(0).requestCount();
        try (RawHttp raw = new RawHttp(strict.port())) {
            raw.send("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(400);
        }
        assertThat(strict.backend(0).requestCount()).isEqualTo(before);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/a..b/c", "/.well-known/x", "/a/...", "/a?path=../b"})
    void namesThatOnlyContainDotsPass(String target) throws Exception {
        try (RawHttp raw = new RawHttp(strict.port())) {
            raw.send("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"evil.example/x", "user@app.example", "app.example:99999", "app.example:80:80",
        "app.example:8o", "[::1", "[zz::1]:80", "[::1]x", "a%2", "a%zz", "a\\b", "a\"b", "<script>"})
    void aHostThatIsNoAuthorityGets400AndNeverReachesABackend(String host) throws Exception {
        long before = lenient.backend(0).requestCount();
        try (RawHttp raw = new RawHttp(lenient.port())) {
            raw.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(400);
            assertThat(r.bodyText()).isEqualTo("bad request: Host is not a valid authority\n");
        }
        assertThat(lenient.backend(0).requestCount()).isEqualTo(before);
    }

    @ParameterizedTest
    @ValueSource(strings = {"app.example", "APP.example:8080", "10.0.0.1:80", "[::1]:8080", "[2001:db8::1]", "localhost:",
        "exa%41mple.test", "under_score.test", "h"})
    void aValidAuthorityPasses(String host) throws Exception {
        try (RawHttp raw = new RawHttp(lenient.port())) {
            raw.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }

    @Test
    void methodsOutsideTheListGet405WithAllow() throws Exception {
        try (RawHttp raw = new RawHttp(strict.port())) {
            raw.send("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(405);
            assertThat(r.header("allow")).isEqualTo("GET, HEAD, POST");
        }
    }

    @Test
    void refusedConnectAdvertisesOnlyTheConfiguredMethods() throws Exception {
        assertConnectRefusedWithAllow(strict.port(), "GET, HEAD, POST");
    }

    @Test
    void connectInTheListIsStillRefusedAndNeverAdvertised() throws Exception {
        assertConnectRefusedWithAllow(connectListed.port(), "GET");
    }

    private static void assertConnectRefusedWithAllow(int port, String allow) throws Exception {
        try (RawHttp raw = new RawHttp(port)) {
            raw.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(405);
            assertThat(r.header("allow")).isEqualTo(allow);
        }
    }

    @Test
    void withoutTheSectionTargetsAreForwardedByteExact() throws Exception {
        try (RawHttp raw = new RawHttp(lenient.port())) {
            raw.send("DELETE /a/../b/%2e%2e HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(JSON.readTree(r.body()).get("path").asText()).isEqualTo("/a/../b/%2e%2e");
        }
    }
}
