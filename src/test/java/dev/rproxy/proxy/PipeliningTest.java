package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Each pipelined response is framed for its own request, and refusals keep their place in line. */
class PipeliningTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1);

    @Test
    void headPipelinedAfterGetDoesNotStripTheGetResponsesFraming() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /stream?bytes=10&chunked=1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /stream?bytes=7 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /stream?bytes=3 HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response get = raw.read();
            assertThat(get.header("transfer-encoding")).isEqualTo("chunked");
            assertThat(get.body()).hasSize(10);
            RawHttp.Response head = raw.read(true);
            assertThat(head.header("content-length")).isEqualTo("7");
            assertThat(raw.read().body()).hasSize(3);
        }
    }

    @Test
    void everyRequestPipelinedBeforeTheClientsLastByteIsAnswered() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /stream?bytes=3 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /stream?bytes=5 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /stream?bytes=7 HTTP/1.1\r\nHost: h\r\n\r\n");
            raw.socket().shutdownOutput();
            assertThat(raw.read().body()).hasSize(3);
            assertThat(raw.read().body()).hasSize(5);
            assertThat(raw.read().body()).hasSize(7);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void connectionCloseOnALaterRequestClosesOnlyAfterItsOwnResponse() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=200 HTTP/1.1\r\nHost: h\r\n\r\nGET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            RawHttp.Response first = raw.read();
            assertThat(first.header("connection")).isNull();
            assertThat(JSON.readTree(first.body()).get("path").asText()).isEqualTo("/delay");
            RawHttp.Response second = raw.read();
            assertThat(second.header("connection")).isEqualToIgnoringCase("close");
            assertThat(JSON.readTree(second.body()).get("path").asText()).isEqualTo("/last");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void refusedPipelinedRequestIsAnsweredAfterTheResponsesBeforeIt() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=300 HTTP/1.1\r\nHost: h\r\n\r\nGET /no-host HTTP/1.1\r\n\r\n"
                    + "GET /never HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response first = raw.read();
            assertThat(first.status()).isEqualTo(200);
            assertThat(JSON.readTree(first.body()).get("path").asText()).isEqualTo("/delay");
            RawHttp.Response refused = raw.read();
            assertThat(refused.status()).isEqualTo(400);
            assertThat(refused.header("connection")).isEqualToIgnoringCase("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }

    @Test
    void backendAnsweringBeforeTheBodyEndsSaysCloseAndCloses() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            // The test backend answers /status/N after reading the body; /echo streams back at once.
            // More than the 64 KiB read before a backend is chosen, less than announced.
            raw.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + "0123456789".repeat(7000));
            RawHttp.Response r = raw.read(true); // the head is what tells
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
        }
    }
}
