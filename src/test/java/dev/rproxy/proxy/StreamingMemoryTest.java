package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyProcess;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Memory stays flat whatever the payload: 1 GiB up and 1 GiB down through a proxy whose JVM has
 * 64 MiB of heap and 64 MiB of direct memory, byte-exact, with a reader that stalls on the download.
 * A proxy that buffered a body would die or answer 5xx here.
 */
class StreamingMemoryTest {
    private static final Logger log = LoggerFactory.getLogger(StreamingMemoryTest.class);
    private static final long GIB = 1L << 30;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void streamsOneGibibyteEachWayInSixtyFourMebibytes() throws Exception {
        try (TestBackend backend = TestBackend.start("big", "127.0.0.1", 0)) {
            Path config = ProxyProcess.configFile(dir, "{\"listen\":{\"host\":\"127.0.0.1\",\"port\":0},"
                    + "\"backends\":[{\"id\":\"big\",\"url\":\"" + backend.url() + "\"}],"
                    + "\"server\":{\"ioThreads\":2},\"accessLog\":{\"enabled\":false}}");
            try (ProxyProcess proxy = ProxyProcess.start(
                    List.of("-Xmx64m", "-XX:MaxDirectMemorySize=64m", "-XX:+UseSerialGC"), config.toString())) {
                int port = proxy.awaitListening(30, TimeUnit.SECONDS);
                long rssAtStart = proxy.procStatusKib("VmRSS");

                long uploadCrc = upload(port);
                long afterUpload = proxy.procStatusKib("VmRSS");
                download(port);
                long peak = proxy.procStatusKib("VmHWM");
                long atEnd = proxy.procStatusKib("VmRSS");
                log.info("proxy RSS KiB: start {}, after 1 GiB upload {}, after 1 GiB download {}, peak {}",
                        rssAtStart, afterUpload, atEnd, peak);
                assertThat(uploadCrc).isEqualTo(expectedCrc());

                proxy.terminate();
                assertThat(proxy.awaitExit(20, TimeUnit.SECONDS)).isZero();
                assertThat(String.join("\n", proxy.output())).doesNotContain("OutOfMemory").doesNotContain("LEAK");
            }
        }
    }

    /** POSTs 1 GiB of pattern bytes with a Content-Length; returns the CRC the backend computed. */
    private static long upload(int port) throws Exception {
        try (RawHttp raw = new RawHttp(port)) {
            raw.send("POST /sink HTTP/1.1\r\nHost: big\r\nContent-Length: " + GIB + "\r\n\r\n");
            OutputStream out = raw.socket().getOutputStream();
            byte[] buf = new byte[64 * 1024];
            for (long sent = 0; sent < GIB; sent += buf.length) {
                for (int i = 0; i < buf.length; i++) {
                    buf[i] = TestBackend.patternByte(sent + i);
                }
                out.write(buf);
            }
            out.flush();
            RawHttp.Response response = raw.read();
            assertThat(response.status()).isEqualTo(200);
            JsonNode json = JSON.readTree(response.body());
            assertThat(json.get("body_bytes").asLong()).isEqualTo(GIB);
            return json.get("crc32").asLong();
        }
    }

    /** GETs 1 GiB and checks every byte, stalling 50 ms after each 32 MiB so backpressure engages. */
    private static void download(int port) throws Exception {
        try (RawHttp raw = new RawHttp(port)) {
            raw.send("GET /stream?bytes=" + GIB + " HTTP/1.1\r\nHost: big\r\n\r\n");
            InputStream in = raw.socket().getInputStream();
            String head = readHead(in);
            assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("content-length: " + GIB);
            byte[] buf = new byte[64 * 1024];
            AtomicLong index = new AtomicLong();
            long nextStall = 32L << 20;
            while (index.get() < GIB) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, GIB - index.get()));
                assertThat(n).as("bytes before EOF at %d", index.get()).isPositive();
                long base = index.get();
                for (int i = 0; i < n; i++) {
                    if (buf[i] != TestBackend.patternByte(base + i)) {
                        throw new AssertionError("download differs at byte " + (base + i));
                    }
                }
                index.addAndGet(n);
                if (index.get() >= nextStall) {
                    nextStall += 32L << 20;
                    Thread.sleep(50); // the slow reader is the point of this test
                }
            }
        }
    }

    private static String readHead(InputStream in) throws Exception {
        StringBuilder sb = new StringBuilder();
        while (!sb.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            assertThat(c).isNotNegative();
            sb.append((char) c);
        }
        return sb.toString();
    }

    private static long expectedCrc() {
        CRC32 crc = new CRC32();
        byte[] buf = new byte[64 * 1024];
        for (long i = 0; i < GIB; i += buf.length) {
            for (int j = 0; j < buf.length; j++) {
                buf[j] = TestBackend.patternByte(i + j);
            }
            crc.update(buf);
        }
        return crc.getValue();
    }
}
