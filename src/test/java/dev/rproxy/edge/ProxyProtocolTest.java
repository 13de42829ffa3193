package dev.rproxy.edge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.H2cClient;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.TestCertificates;
import dev.rproxy.testbackend.TestBackend;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.pkitesting.X509Bundle;
import io.netty.util.NetUtil;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code listen[].proxyProtocol}: a connection starts with a PROXY header (v1 text or v2 binary),
 * whose source address is then the connection's peer for {@code X-Real-IP}, {@code X-Forwarded-For},
 * {@code trustedProxies}, the per-client limit and the access log; over HTTP/1.1, h2c and TLS with
 * ALPN. A connection without a valid header, or whose header does not complete within {@code
 * timeouts.requestHeadMs}, is closed without a response.
 */
class ProxyProtocolTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long HEAD_MS = 1000;
    private static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    @TempDir
    static Path dir;
    private static TestBackend backend;
    private static ConfiguredProxy proxy;
    private static Path accessLog;
    private static SslContext h2Client;

    @BeforeAll
    static void start() throws Exception {
        X509Bundle ca = TestCertificates.ca();
        TestCertificates.writeSite(ca, dir);
        h2Client = SslContextBuilder.forClient().trustManager(ca.getCertificate())
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2))
                .build();
        backend = TestBackend.start("b1", "127.0.0.1", 0);
        accessLog = dir.resolve("access.json");
        proxy = new ConfiguredProxy(dir, "["
                + "{\"host\": \"127.0.0.1\", \"port\": 0, \"proxyProtocol\": true,"
                + " \"protocols\": [\"http/1.1\", \"h2c\"]},"
                + "{\"host\": \"127.0.0.1\", \"port\": 0, \"proxyProtocol\": true,"
                + " \"protocols\": [\"h2\", \"http/1.1\"],"
                + " \"tls\": {\"certificates\": [{\"certFile\": \"site.pem\", \"keyFile\": \"site.key\"}]}}]",
                members("\"trustedProxies\": [\"10.0.0.0/8\"]", accessLog));
    }

    private static String members(String more, Path log) {
        return more + ", \"timeouts\": {\"requestHeadMs\": " + HEAD_MS + "}, \"healthCheck\": {\"enabled\": false},"
                + " \"accessLog\": {\"format\": \"json\", \"file\": \"" + log + "\"},"
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

    private static byte[] v1(String source) {
        String family = source.contains(":") ? "TCP6" : "TCP4";
        String destination = source.contains(":") ? "2001:db8::ff" : "10.0.0.1";
        return ascii("PROXY " + family + " " + source + " " + destination + " 56324 443\r\n");
    }

    /** A v2 header: signature, version 2 and {@code command}, {@code family}, then {@code rest} (addresses, TLVs). */
    private static byte[] v2(int command, int family, byte[] rest) {
        return ByteBuffer.allocate(16 + rest.length).put(V2_SIGNATURE).put((byte) (0x20 | command)).put((byte) family)
                .putShort((short) rest.length).put(rest).array();
    }

    /** Source and destination addresses, then their ports, as v2 lays them out for TCP over IPv4 or IPv6. */
    private static byte[] addresses(String source, String destination) {
        byte[] s = NetUtil.createByteArrayFromIpAddressString(source);
        byte[] d = NetUtil.createByteArrayFromIpAddressString(destination);
        return ByteBuffer.allocate(s.length + d.length + 4).put(s).put(d).putShort((short) 56324).putShort((short) 443)
                .array();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    /** Sends {@code header} and one request for {@code target}; the header fields the backend received. */
    private static JsonNode backendHeaders(byte[] header, String target, String moreFields) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(concat(header, ascii("GET " + target + " HTTP/1.1\r\nHost: h\r\n" + moreFields + "\r\n")));
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

    @Test
    void aV1HeaderNamesTheClientForTheBackendAndTheAccessLog() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(concat(v1("203.0.113.7"),
                    ascii("GET /v1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n")));
            JsonNode headers = JSON.readTree(raw.read().body()).get("headers");
            assertThat(field(headers, "x-real-ip")).isEqualTo("203.0.113.7");
            assertThat(field(headers, "x-forwarded-for")).as("the header's source is the hop appended")
                    .isEqualTo("198.51.100.1, 203.0.113.7");
            // The next request on the connection has the same peer: the header came once.
            raw.send("GET /v1-again HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(field(JSON.readTree(raw.read().body()).get("headers"), "x-real-ip")).isEqualTo("203.0.113.7");
        }
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/v1")).isEqualTo("203.0.113.7");
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/v1-again")).isEqualTo("203.0.113.7");
    }

    @Test
    void aV2HeaderNamesTheClient() throws Exception {
        JsonNode headers = backendHeaders(v2(1, 0x11, addresses("203.0.113.8", "10.0.0.1")), "/v2", "");

        assertThat(field(headers, "x-real-ip")).isEqualTo("203.0.113.8");
        assertThat(field(headers, "x-forwarded-for")).isEqualTo("203.0.113.8");
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/v2")).isEqualTo("203.0.113.8");
    }

    @Test
    void aV2HeaderOverIpv6WithTlvsNamesTheClient() throws Exception {
        // PP2_TYPE_AUTHORITY and PP2_TYPE_NOOP, which the decoder keeps in buffers of their own.
        byte[] tlvs = concat(new byte[] {0x02, 0x00, 0x0c}, ascii("example.test"), new byte[] {0x04, 0x00, 0x02, 0, 0});
        JsonNode headers = backendHeaders(v2(1, 0x21, concat(addresses("2001:db8::7", "2001:db8::ff"), tlvs)),
                "/v2-tcp6", "");

        assertThat(field(headers, "x-real-ip")).isEqualTo(NetUtil.createInetAddressFromIpAddressString("2001:db8::7")
                .getHostAddress());
    }

    @Test
    void aV2LocalHeaderLeavesTheSocketsPeer() throws Exception {
        JsonNode headers = backendHeaders(v2(0, 0x00, new byte[0]), "/v2-local", "");

        assertThat(field(headers, "x-real-ip")).isEqualTo("127.0.0.1");
        assertThat(field(headers, "x-forwarded-for")).isEqualTo("127.0.0.1");
    }

    @Test
    void aV1UnknownHeaderLeavesTheSocketsPeer() throws Exception {
        JsonNode headers = backendHeaders(ascii("PROXY UNKNOWN\r\n"), "/v1-unknown", "");

        assertThat(field(headers, "x-real-ip")).isEqualTo("127.0.0.1");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "PROXY TCP4 203.0.113.7 bogus 56324 443\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443 and then some more words than a header has room for ........\r\n",
        "\r\n\r\n\u0000\r\nQUIT\n\u0031\u0011\u0000\u0000GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    })
    void aConnectionWithoutAValidHeaderIsClosedUnanswered(String start) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(start.getBytes(StandardCharsets.ISO_8859_1));
            assertThat(raw.isClosedByPeer(5000)).as("closed, no byte answered").isTrue();
        }
    }

    @Test
    void aHeaderThatNeverCompletesIsClosedAfterTheHeadTimeout() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            long start = System.nanoTime();
            raw.send("PROXY TCP4 203.0.113.7");
            assertThat(raw.isClosedByPeer(10_000)).as("closed, no byte answered").isTrue();
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isBetween(HEAD_MS - 100, 9_000L);
        }
    }

    @Test
    void aTrustedProxysSourceLetsItsForwardedForNameTheClient() throws Exception {
        JsonNode trusted = backendHeaders(v1("10.0.0.9"), "/trusted-source", "X-Forwarded-For: 198.51.100.4\r\n");
        assertThat(field(trusted, "x-real-ip")).isEqualTo("198.51.100.4");
        assertThat(field(trusted, "x-forwarded-for")).isEqualTo("198.51.100.4, 10.0.0.9");
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/trusted-source")).isEqualTo("198.51.100.4");

        JsonNode untrusted = backendHeaders(v1("203.0.113.7"), "/untrusted-source",
                "X-Forwarded-For: 198.51.100.4\r\n");
        assertThat(field(untrusted, "x-real-ip")).isEqualTo("203.0.113.7");

        // The socket's peer (127.0.0.1, not trusted) is not what counts: a v2 header from 10.0.0.10 is.
        JsonNode v2 = backendHeaders(v2(1, 0x11, addresses("10.0.0.10", "10.0.0.1")), "/trusted-v2",
                "X-Forwarded-For: 198.51.100.5\r\n");
        assertThat(field(v2, "x-real-ip")).isEqualTo("198.51.100.5");
    }

    @Test
    void h2cWithPriorKnowledgeWorksBehindTheHeader() throws Exception {
        try (H2cClient client = new H2cClient(proxy.port(), v1("10.0.0.9"), null)) {
            var named = client.send(H2cClient.get("/h2c-a").add("x-forwarded-for", "198.51.100.21"), null);
            var plain = client.send(H2cClient.get("/h2c-b"), null);
            H2cClient.Response a = named.get(5, TimeUnit.SECONDS);
            assertThat(a.status()).isEqualTo(200);
            assertThat(field(JSON.readTree(a.body()).get("headers"), "x-real-ip")).isEqualTo("198.51.100.21");
            JsonNode b = JSON.readTree(plain.get(5, TimeUnit.SECONDS).body()).get("headers");
            assertThat(field(b, "x-real-ip")).isEqualTo("10.0.0.9");
            assertThat(field(b, "x-forwarded-for")).isEqualTo("10.0.0.9");
        }
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/h2c-a")).isEqualTo("198.51.100.21");
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/h2c-b")).isEqualTo("10.0.0.9");
    }

    @Test
    void tlsWithAlpnH2WorksBehindTheHeader() throws Exception {
        byte[] header = v2(1, 0x11, addresses("203.0.113.30", "10.0.0.1"));
        try (H2cClient client = new H2cClient(proxy.port(1), header, h2Client)) {
            H2cClient.Response response = client.send(new DefaultHttp2Headers().method("GET").scheme("https")
                    .authority("127.0.0.1").path("/tls-h2"), null).get(5, TimeUnit.SECONDS);
            assertThat(response.status()).isEqualTo(200);
            JsonNode headers = JSON.readTree(response.body()).get("headers");
            assertThat(field(headers, "x-real-ip")).isEqualTo("203.0.113.30");
            assertThat(field(headers, "x-forwarded-proto")).isEqualTo("https");
        }
        assertThat(ClientIdentityTest.loggedClient(accessLog, "/tls-h2")).isEqualTo("203.0.113.30");
    }

    @Test
    void thePerClientLimitCountsTheHeadersSourceNotTheBalancer(@TempDir Path own) throws Exception {
        try (ConfiguredProxy limited = new ConfiguredProxy(own,
                "{\"host\": \"127.0.0.1\", \"port\": 0, \"proxyProtocol\": true}",
                members("\"limits\": {\"maxConnectionsPerClient\": 1}", own.resolve("access.json")));
                RawHttp first = new RawHttp(limited.port());
                RawHttp second = new RawHttp(limited.port());
                RawHttp other = new RawHttp(limited.port())) {
            first.send(concat(v1("203.0.113.7"), ascii("GET /held HTTP/1.1\r\nHost: h\r\n\r\n")));
            assertThat(first.read().status()).isEqualTo(200);
            second.send(concat(v1("203.0.113.7"), ascii("GET /over HTTP/1.1\r\nHost: h\r\n\r\n")));
            assertThat(second.isClosedByPeer(5000)).as("a second connection from 203.0.113.7: closed").isTrue();
            other.send(concat(v1("203.0.113.8"), ascii("GET /other HTTP/1.1\r\nHost: h\r\n\r\n")));
            assertThat(other.read().status()).as("the same balancer, another client").isEqualTo(200);
            first.send("GET /held-again HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(first.read().status()).isEqualTo(200);
        }
    }
}
