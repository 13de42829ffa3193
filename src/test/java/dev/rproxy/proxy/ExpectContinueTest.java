package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.ScriptedBackendProxyExtension;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code Expect: 100-continue} with request buffering off ({@code limits.requestBufferBytes: 0})
 * and backends that do not send {@code 100 Continue}: the head is forwarded at once, so a backend
 * that ignores the expectation still gets the body when the client sends it, and a backend's final
 * answer instead of 100 reaches the client. With buffering on (the default) the proxy answers the
 * expectation itself: {@code RequestBufferTest}.
 */
class ExpectContinueTest {
    private static final String HEAD = "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";

    private static final BlockingQueue<String> heads = new LinkedBlockingQueue<>();
    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("expect-backend", ExpectContinueTest::serve)
                    .config("\"limits\":{\"requestBufferBytes\":0}");

    /** {@code /upload}: reads the 4-byte body without sending 100, echoes it; {@code /refuse}: 417 at once. */
    private static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            String head = RawBackend.readHead(in);
            if (head == null) {
                return;
            }
            heads.add(head);
            String response;
            if (head.startsWith("POST /refuse ")) {
                response = "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n";
            } else {
                String body = new String(in.readNBytes(4), StandardCharsets.ISO_8859_1);
                // It reads no further request on this connection: it says so, and the proxy does not pool it.
                response = "HTTP/1.1 200 OK\r\nContent-Length: " + (4 + body.length()) + "\r\nConnection: close\r\n\r\ngot:"
                        + body;
            }
            out.write(response.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            in.readAllBytes();
        } catch (IOException e) {
            // closed by the proxy
        }
    }

    @Test
    void backendIgnoringTheExpectationStillGetsTheBodyTheClientSendsAnyway() throws Exception {
        heads.clear();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(HEAD);
            // The head reached the backend without a body: nothing waits on a 100 that never comes.
            assertThat(heads.poll(5, TimeUnit.SECONDS)).startsWith("POST /upload HTTP/1.1\r\n")
                    .containsIgnoringCase("expect: 100-continue\r\n");
            raw.send("data"); // as a client does after its own wait for 100 (curl: 1 s)
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.bodyText()).isEqualTo("got:data");
        }
    }

    @Test
    void finalAnswerInsteadOfContinueReachesTheClientAndTheUnsentBodyIsNotAwaited() throws Exception {
        heads.clear();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(HEAD.replace("/upload", "/refuse"));
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(417);
            // The body was announced but never sent: the connection cannot carry another request.
            assertThat(response.header("connection")).isEqualToIgnoringCase("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }
}
