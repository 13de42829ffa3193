package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.ScriptedBackendProxyExtension;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
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
    /**
     * What the backend saw, tagged with the path of the request: "request /p" for each request head,
     * "eof /p" when the proxy closed the connection that carried /p last. The tag keeps one test's
     * late events out of another's reading.
     */
    private static final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("close-backend", ConnectionCloseTest::serve);

    /** Answers every request with Connection: close, and does not close: it waits for the proxy to. */
    private static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            String path = "";
            for (String head; (head = RawBackend.readHead(in)) != null; ) {
                path = head.split(" ", 3)[1];
                events.add("request " + path);
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        .getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
            }
            events.add("eof " + path);
        } catch (IOException e) {
            events.add("error " + e);
        }
    }

    /** The next event about one of {@code paths}, skipping those of other tests; null after 5 s. */
    private static String nextEventAbout(String... paths) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (;;) {
            String event = events.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (event == null || Arrays.stream(paths).anyMatch(p -> event.endsWith(" " + p))
                    || event.startsWith("error")) {
                return event;
            }
        }
    }

    @Test
    void backendsCloseIsHonouredAndTheClientKeepsItsConnection() throws Exception {
        int acceptedBefore = proxy.backend().accepted();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /keep-1 HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response first = raw.read();
            assertThat(first.status()).isEqualTo(200);
            assertThat(first.header("connection")).as("the client's connection is its own").isNull();
            // The proxy closes the backend connection that said close, rather than reusing it.
            assertThat(nextEventAbout("/keep-1", "/keep-2")).isEqualTo("request /keep-1");
            assertThat(nextEventAbout("/keep-1", "/keep-2")).isEqualTo("eof /keep-1");

            raw.send("GET /keep-2 HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            assertThat(nextEventAbout("/keep-1", "/keep-2")).isEqualTo("request /keep-2");
            assertThat(nextEventAbout("/keep-1", "/keep-2")).isEqualTo("eof /keep-2");
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
