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
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * limits.minBodyRate and a backend that holds the request body back: time the client's reads were
 * paused because the backend did not take the body is not held against the client, including the
 * body parts the client had already sent that reach the relay the moment the backend drains. A
 * chunked body of small chunks leaves many such parts queued in front of the relay.
 */
class BodyRateBackpressureTest {
    private static final long PAUSE_MS = 6000;
    private static final int CHUNK = 1000;
    private static final int CHUNKS = 24_000; // 24 MB: more than the sockets in between can hold

    private static final AtomicLong bodyBytesRead = new AtomicLong();

    // 5 MB/s: the upload itself is far faster; the backend's pause alone is far over idleMs.
    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("slow-to-read-backend", BodyRateBackpressureTest::serve)
                    .config("\"timeouts\":{\"idleMs\":2000},\"limits\":{\"minBodyRate\":5000000}");

    /** Reads the head, reads nothing for {@link #PAUSE_MS}, then reads the chunked body to its end and answers 200. */
    private static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(30_000);
            InputStream in = s.getInputStream();
            if (RawBackend.readHead(in) == null) {
                return;
            }
            Thread.sleep(PAUSE_MS); // holding the body back is the point of this test
            byte[] end = "0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
            byte[] tail = new byte[end.length];
            byte[] buf = new byte[64 * 1024];
            long total = 0;
            int n;
            while ((n = in.read(buf)) != -1) {
                total += n;
                // Keep the last five bytes seen to spot the end of the chunked body.
                if (n >= tail.length) {
                    System.arraycopy(buf, n - tail.length, tail, 0, tail.length);
                } else {
                    System.arraycopy(tail, n, tail, 0, tail.length - n);
                    System.arraycopy(buf, 0, tail, tail.length - n, n);
                }
                if (Arrays.equals(tail, end)) {
                    break;
                }
            }
            bodyBytesRead.set(total);
            OutputStream out = s.getOutputStream();
            out.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
        } catch (IOException e) {
            // the proxy closed the connection
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void timeTheBackendHeldTheBodyBackIsNotHeldAgainstTheClient() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.socket().setSoTimeout(30_000);
            AtomicReference<IOException> sendFailure = new AtomicReference<>();
            Thread sender = new Thread(() -> {
                try {
                    OutputStream out = raw.socket().getOutputStream();
                    out.write("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                            .getBytes(StandardCharsets.ISO_8859_1));
                    byte[] chunk = (Integer.toHexString(CHUNK) + "\r\n" + "z".repeat(CHUNK) + "\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1);
                    // Several chunks per write, so every proxy read decodes many body parts.
                    byte[] batch = new byte[chunk.length * 64];
                    for (int i = 0; i < 64; i++) {
                        System.arraycopy(chunk, 0, batch, i * chunk.length, chunk.length);
                    }
                    for (int i = 0; i < CHUNKS / 64; i++) {
                        out.write(batch);
                    }
                    out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                } catch (IOException e) {
                    sendFailure.set(e);
                }
            }, "uploader");
            sender.setDaemon(true);
            sender.start();
            RawHttp.Response answer = raw.read();
            sender.join(30_000);
            assertThat(answer.status()).as("answer to an upload the backend held back").isEqualTo(200);
            assertThat(sendFailure.get()).isNull();
            assertThat(bodyBytesRead.get()).isGreaterThan((long) CHUNK * CHUNKS);
        }
    }
}
