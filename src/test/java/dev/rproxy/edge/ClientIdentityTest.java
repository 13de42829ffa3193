package dev.rproxy.edge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.H2cClient;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code trustedProxies}: who the client of a request is. The walk itself on headers alone; then
 * through a real proxy, where {@code 127.0.0.2} is a trusted peer and {@code 127.0.0.1} is not, what
 * the backend is told ({@code X-Real-IP}, {@code X-Forwarded-For}) and what the access log says.
 */
class ClientIdentityTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String UNTRUSTED = "127.0.0.1";
    private static final String TRUSTED = "127.0.0.2";

    @TempDir
    static Path dir;
    private static TestBackend backend;
    private static ConfiguredProxy proxy;
    private static Path accessLog;

    @BeforeAll
    static void start() throws Exception {
        backend = TestBackend.start("b1", "127.0.0.1", 0);
        accessLog = dir.resolve("access.json");
        proxy = new ConfiguredProxy(dir, members("\"" + TRUSTED + "\", \"10.0.0.0/8\""));
    }

    private static String members(String trusted) {
        return "\"trustedProxies\": [" + trusted + "], \"healthCheck\": {\"enabled\": false},"
                + " \"accessLog\": {\"format\": \"json\", \"file\": \"" + accessLog + "\"},"
                + " \"backends\": [{\"id\": \"b1\", \"url\": \"" + backend.url() + "\"}]";
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    // ---- the walk, on headers alone -------------------------------------------------------

    private static final ClientIdentity WALK = new ClientIdentity(
            Cidr.parseAll(List.of("10.0.0.0/8", "192.168.0.0/16", "2001:db8:ffff::/48")));
    private static final InetAddress PEER = address("10.9.9.9");

    private static InetAddress address(String literal) {
        return NetUtil.createInetAddressFromIpAddressString(literal);
    }

    private static InetAddress walk(String name, String value) {
        HttpHeaders headers = new DefaultHttpHeaders();
        for (String line : value.split("\\|", -1)) { // '|' separates field lines
            headers.add(name, line);
        }
        return WALK.fromHeaders(headers, PEER);
    }

    @ParameterizedTest(name = "X-Forwarded-For: {0}")
    @CsvSource(delimiterString = "->", value = {
        "203.0.113.9 -> 203.0.113.9",
        "198.51.100.1, 203.0.113.9, 10.0.0.1 -> 203.0.113.9",
        "198.51.100.1, 203.0.113.9|10.0.0.1, 192.168.4.4 -> 203.0.113.9",
        "10.0.0.1, 192.168.1.1 -> 10.0.0.1",
        "203.0.113.9,10.0.0.1 -> 203.0.113.9",
        ",, 203.0.113.9 \t, , -> 203.0.113.9",
        "2001:db8::1, 10.0.0.1 -> 2001:db8::1",
        "198.51.100.3, 2001:db8:ffff::5 -> 198.51.100.3",
        "[2001:db8::2]:443, 10.0.0.1 -> 2001:db8::2",
        "203.0.113.9:1234 -> 203.0.113.9",
        "203.0.113.9, unknown -> 203.0.113.9",
        "unknown, 10.0.0.1 -> 10.0.0.1",
        // garbage stops the walk: the address nearest the peer before it, or the peer itself
        "203.0.113.9, bogus, 10.0.0.3 -> 10.0.0.3",
        "203.0.113.9, proxy.example -> 10.9.9.9",
        "203.0.113.9, 300.1.1.1 -> 10.9.9.9",
        "203.0.113.9, 1.2.3 -> 10.9.9.9",
        "203.0.113.9, [2001:db8::1 -> 10.9.9.9",
        "203.0.113.9, 10.0.0.1:http -> 10.9.9.9",
        "'' -> 10.9.9.9",
    })
    void forwardedForIsWalkedFromTheRightToTheFirstUntrustedAddress(String value, String client) {
        assertThat(walk("X-Forwarded-For", value)).isEqualTo(address(client));
    }

    @ParameterizedTest(name = "Forwarded: {0}")
    @CsvSource(delimiterString = "->", value = {
        "for=\"[2001:db8::1]:4711\" -> 2001:db8::1",
        "for=192.0.2.60;proto=http;by=203.0.113.43 -> 192.0.2.60",
        "for=198.51.100.1, for=10.0.0.1 -> 198.51.100.1",
        "for=198.51.100.1|For=10.0.0.1;proto=https -> 198.51.100.1",
        "for=\"198.51.100.1:8080\" -> 198.51.100.1",
        "for=\"[2001:db8::3]\" -> 2001:db8::3",
        "For=\"_gazonk\", for=10.0.0.1 -> 10.0.0.1",
        "for=198.51.100.1, for=\"_hidden:_port\" -> 198.51.100.1",
        "for=unknown, for=198.51.100.1 -> 198.51.100.1",
        "proto=https;by=10.0.0.1, for=198.51.100.2 -> 198.51.100.2",
        "for=198.51.100.2, proto=https -> 198.51.100.2",
        "for = 198.51.100.2 ; proto=http -> 198.51.100.2",
        "for=\"198.51.100.2\\\"\" -> 10.9.9.9",
        // garbage stops the walk
        "for=203.0.113.9, garbage, for=10.0.0.2 -> 10.0.0.2",
        "for=2001:db8::1 -> 10.9.9.9",
        "for=host.example -> 10.9.9.9",
        "for=198.51.100.1;for=198.51.100.2 -> 10.9.9.9",
        "for=198.51.100.9, for=\"10.0.0.1 -> 10.9.9.9",
        "for=198.51.100.9 junk -> 10.9.9.9",
    })
    void forwardedForNodesAreWalkedTheSameWay(String value, String client) {
        assertThat(walk("Forwarded", value)).isEqualTo(address(client));
    }

    @Test
    void forwardedForWinsOverForwardedAndAnUntrustedPeerIsNeverAskedAnything() {
        HttpHeaders headers = new DefaultHttpHeaders().add("Forwarded", "for=198.51.100.1")
                .add("X-Forwarded-For", "203.0.113.9");
        assertThat(WALK.fromHeaders(headers, PEER)).isEqualTo(address("203.0.113.9"));
        assertThat(WALK.trusts(PEER)).isTrue();
        assertThat(WALK.trusts(address("203.0.113.9"))).isFalse();
        assertThat(WALK.trusts(address("::ffff:10.1.2.3"))).as("IPv4-mapped").isTrue();
        assertThat(ClientIdentity.NONE.trusts(PEER)).isFalse();
    }

    // ---- through the proxy ----------------------------------------------------------------

    /** Sends one request from {@code local} and returns the header fields the backend received. */
    private static JsonNode backendHeaders(String local, String head) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port(), local)) {
            raw.send(head);
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            return JSON.readTree(response.body()).get("headers");
        }
    }

    private static String field(JsonNode headers, String name) {
        JsonNode values = headers.get(name);
        assertThat(values).as(name).isNotNull().hasSize(1);
        return values.get(0).asText();
    }

    /** The access log's client for the request to {@code target}. */
    static String loggedClient(Path log, String target) {
        AtomicReference<String> client = new AtomicReference<>();
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            if (Files.exists(log)) {
                for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                    JsonNode entry = JSON.readTree(line);
                    if (entry.get("target").asText().equals(target)) {
                        client.set(entry.get("client").asText());
                        return true;
                    }
                }
            }
            return false;
        });
        return client.get();
    }

    @Test
    void aForgedForwardedForFromAnUntrustedPeerChangesNeitherXRealIpNorTheAccessLog() throws Exception {
        JsonNode headers = backendHeaders(UNTRUSTED, "GET /forged HTTP/1.1\r\nHost: h\r\n"
                + "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=198.51.100.1\r\nX-Real-IP: 203.0.113.9\r\n\r\n");

        assertThat(field(headers, "x-real-ip")).isEqualTo(UNTRUSTED);
        assertThat(field(headers, "x-forwarded-for")).as("the chain is passed on, the peer appended")
                .isEqualTo("203.0.113.9, " + UNTRUSTED);
        assertThat(loggedClient(accessLog, "/forged")).isEqualTo(UNTRUSTED);
    }

    @Test
    void aTrustedPeersChainYieldsItsRightMostUntrustedAddress() throws Exception {
        JsonNode headers = backendHeaders(TRUSTED, "GET /chain HTTP/1.1\r\nHost: h\r\n"
                + "X-Forwarded-For: 198.51.100.7, 203.0.113.9\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n");

        assertThat(field(headers, "x-real-ip")).isEqualTo("203.0.113.9");
        assertThat(field(headers, "x-forwarded-for")).isEqualTo("198.51.100.7, 203.0.113.9, 10.1.2.3, " + TRUSTED);
        assertThat(loggedClient(accessLog, "/chain")).isEqualTo("203.0.113.9");
    }

    @Test
    void aChainOfTrustedProxiesOnlyYieldsItsLeftMostAddress() throws Exception {
        JsonNode headers = backendHeaders(TRUSTED, "GET /all-trusted HTTP/1.1\r\nHost: h\r\n"
                + "X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n");

        assertThat(field(headers, "x-real-ip")).isEqualTo("10.0.0.1");
        assertThat(loggedClient(accessLog, "/all-trusted")).isEqualTo("10.0.0.1");
    }

    @Test
    void withoutForwardedForTheForwardedFieldsBracketedIpv6WithAPortIsTheClient() throws Exception {
        JsonNode headers = backendHeaders(TRUSTED, "GET /forwarded HTTP/1.1\r\nHost: h\r\n"
                + "Forwarded: for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.5\r\n\r\n");

        String v6 = address("2001:db8::1").getHostAddress();
        assertThat(field(headers, "x-real-ip")).isEqualTo(v6);
        assertThat(field(headers, "x-forwarded-for")).isEqualTo(TRUSTED);
        assertThat(field(headers, "forwarded")).as("passed on as it came")
                .isEqualTo("for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.5");
        assertThat(loggedClient(accessLog, "/forwarded")).isEqualTo(v6);
    }

    @Test
    void garbageEntriesStopTheWalkAtTheLastGoodAddressOrThePeer() throws Exception {
        JsonNode stopped = backendHeaders(TRUSTED, "GET /garbage-1 HTTP/1.1\r\nHost: h\r\n"
                + "X-Forwarded-For: 203.0.113.9, bogus, 10.0.0.3\r\n\r\n");
        assertThat(field(stopped, "x-real-ip")).isEqualTo("10.0.0.3");
        assertThat(field(stopped, "x-forwarded-for")).isEqualTo("203.0.113.9, bogus, 10.0.0.3, " + TRUSTED);

        JsonNode nothing = backendHeaders(TRUSTED, "GET /garbage-2 HTTP/1.1\r\nHost: h\r\n"
                + "X-Forwarded-For: 203.0.113.9, proxy.example\r\n\r\n");
        assertThat(field(nothing, "x-real-ip")).isEqualTo(TRUSTED);

        JsonNode broken = backendHeaders(TRUSTED, "GET /garbage-3 HTTP/1.1\r\nHost: h\r\n"
                + "Forwarded: for=203.0.113.9, for=\"10.0.0.4\r\n\r\n");
        assertThat(field(broken, "x-real-ip")).isEqualTo(TRUSTED);
        assertThat(loggedClient(accessLog, "/garbage-1")).isEqualTo("10.0.0.3");
        assertThat(loggedClient(accessLog, "/garbage-2")).isEqualTo(TRUSTED);
    }

    @Test
    void pipelinedRequestsEachKeepTheirOwnClient() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port(), TRUSTED)) {
            raw.send("GET /pipelined-a HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n"
                    + "GET /pipelined-b HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.2\r\n\r\n"
                    + "GET /pipelined-c HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(field(JSON.readTree(raw.read().body()).get("headers"), "x-real-ip")).isEqualTo("203.0.113.1");
            assertThat(field(JSON.readTree(raw.read().body()).get("headers"), "x-real-ip")).isEqualTo("203.0.113.2");
            assertThat(field(JSON.readTree(raw.read().body()).get("headers"), "x-real-ip")).isEqualTo(TRUSTED);
        }
        assertThat(loggedClient(accessLog, "/pipelined-a")).isEqualTo("203.0.113.1");
        assertThat(loggedClient(accessLog, "/pipelined-b")).isEqualTo("203.0.113.2");
        assertThat(loggedClient(accessLog, "/pipelined-c")).isEqualTo(TRUSTED);
    }

    @Test
    void eachHttp2StreamHasItsOwnClient(@TempDir Path own) throws Exception {
        Path log = own.resolve("access.json");
        String config = "\"trustedProxies\": [\"127.0.0.1\"], \"healthCheck\": {\"enabled\": false},"
                + " \"accessLog\": {\"format\": \"json\", \"file\": \"" + log + "\"},"
                + " \"backends\": [{\"id\": \"b1\", \"url\": \"" + backend.url() + "\"}]";
        try (ConfiguredProxy h2 = new ConfiguredProxy(own,
                "{\"host\": \"127.0.0.1\", \"port\": 0, \"protocols\": [\"http/1.1\", \"h2c\"]}", config);
                H2cClient client = new H2cClient(h2.port())) {
            var first = client.send(H2cClient.get("/stream-a").add("x-forwarded-for", "203.0.113.11"), null);
            var second = client.send(H2cClient.get("/stream-b").add("x-forwarded-for", "203.0.113.12"), null);
            var third = client.send(H2cClient.get("/stream-c"), null);
            assertThat(field(JSON.readTree(first.get(5, TimeUnit.SECONDS).body()).get("headers"), "x-real-ip"))
                    .isEqualTo("203.0.113.11");
            assertThat(field(JSON.readTree(second.get(5, TimeUnit.SECONDS).body()).get("headers"), "x-real-ip"))
                    .isEqualTo("203.0.113.12");
            assertThat(field(JSON.readTree(third.get(5, TimeUnit.SECONDS).body()).get("headers"), "x-real-ip"))
                    .isEqualTo("127.0.0.1");
            assertThat(loggedClient(log, "/stream-a")).isEqualTo("203.0.113.11");
            assertThat(loggedClient(log, "/stream-b")).isEqualTo("203.0.113.12");
        }
    }
}
