package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Pipelined requests of every framing, split into two reads at every byte: all decode and relay intact. */
class SplitReadScanTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1);

    private static final String SEQUENCE = "\r\nPOST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3;a=\"b c\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
            + "GET /sink HTTP/1.1\r\nHost: h\r\n\r\n";

    @Test
    void everySplitPointDecodesTheSameRequests() throws Exception {
        byte[] all = SEQUENCE.getBytes(StandardCharsets.ISO_8859_1);
        for (int split = 1; split < all.length; split++) {
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.socket().setTcpNoDelay(true);
                raw.send(java.util.Arrays.copyOfRange(all, 0, split));
                Thread.sleep(15);
                raw.send(java.util.Arrays.copyOfRange(all, split, all.length));
                int[] expected = {5, 19, 0};
                for (int n : expected) {
                    RawHttp.Response r = raw.read();
                    assertThat(r.status()).as("split at %d: %s %s", split, r.statusLine(), r.bodyText()).isEqualTo(200);
                    assertThat(r.bodyText()).as("split at %d", split).contains("\"body_bytes\":" + n + ",");
                }
            }
        }
    }
}
