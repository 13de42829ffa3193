package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.ScriptedBackendProxyExtension;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code Connection: close} from the backend ends that backend connection even when the backend
 * leaves its socket open, without ending the client's keep-alive connection; from the client it
 * ends the client connection after its response.
 */
class ConnectionCloseTest {
    /** One entry per backend connection: "request" for each request head on it, "eof" when the proxy closed it. */
    private static final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("close-backend", ConnectionCloseTest::serve);

    /** Answers every request with Connection: close, and does not close: it waits for the proxy to. */
    private static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            while (RawBackend.readHead(in) != null) {
                events.add("request");
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        .getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
            }
            events.add("eof");
        } catch (IOException e) {
            events.add("error");
        }
    }

    @Test
    void backendsCloseIsHonouredAndTheClientKeepsItsConnection() throws Exception {
        events.clear();
        int acceptedBefore = proxy.backend().accepted();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response first = raw.read();
            assertThat(first.status()).isEqualTo(200);
            assertThat(first.header("connection")).as("the client's connection is its own").isNull();
            // The proxy closes the backend connection that said close, rather than reusing it.
            assertThat(events.poll(5, TimeUnit.SECONDS)).isEqualTo("request");
            assertThat(events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");

            raw.send("GET /two HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            assertThat(events.poll(5, TimeUnit.SECONDS)).isEqualTo("request");
            assertThat(events.poll(5, TimeUnit.SECONDS)).isEqualTo("eof");
        }
        assertThat(proxy.backend().accepted() - acceptedBefore).isEqualTo(2);
    }

    @Test
    void clientsCloseEndsItsConnectionAfterTheResponse() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /one HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.header("connection")).isEqualToIgnoringCase("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
    }
}
