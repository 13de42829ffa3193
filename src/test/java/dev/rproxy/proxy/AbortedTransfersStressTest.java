package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A bounded load loop, run by hand ({@code -Dstress=true}, {@code -Dstress.seconds=N}): clients that
 * start large uploads and downloads through the proxy and close or reset mid-body, beside clients
 * making ordinary keep-alive requests, which must all get 200. Before the pool stopped opening
 * sockets from inside an epoll batch, about 1 in 500 ordinary requests got "502 backend connection
 * failed (backend ...: null)" here (see {@code ConnectDuringIoBatchTest} for the deterministic case).
 */
class AbortedTransfersStressTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(2);

    @Test
    void normalRequestsSucceedWhileOthersAbort() throws Exception {
        assumeTrue(Boolean.getBoolean("stress"), "-Dstress=true runs this loop");
        long seconds = Long.getLong("stress.seconds", 15);
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newCachedThreadPool();
        List<Future<?>> aborters = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            aborters.add(pool.submit(() -> abortLoop(stop, true)));
            aborters.add(pool.submit(() -> abortLoop(stop, false)));
        }
        AtomicInteger ok = new AtomicInteger();
        ConcurrentLinkedQueue<String> bad = new ConcurrentLinkedQueue<>();
        List<Future<?>> normals = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            normals.add(pool.submit(() -> {
                while (!stop.get()) {
                    try (RawHttp http = new RawHttp(proxy.port())) {
                        for (int k = 0; k < 20 && !stop.get(); k++) {
                            RawHttp.Response r = http.send("GET /stream?bytes=100 HTTP/1.1\r\nHost: x\r\n\r\n").read();
                            if (r.status() == 200) {
                                ok.incrementAndGet();
                            } else {
                                bad.add(r.status() + " " + new String(r.body(), StandardCharsets.UTF_8).trim());
                            }
                        }
                    } catch (Exception e) {
                        bad.add(e.toString());
                    }
                }
                return null;
            }));
        }
        Thread.sleep(seconds * 1000);
        stop.set(true);
        for (Future<?> f : normals) {
            f.get();
        }
        for (Future<?> f : aborters) {
            f.get();
        }
        pool.shutdownNow();
        assertThat(bad).as("%d ordinary requests answered 200", ok.get()).isEmpty();
    }

    private static Void abortLoop(AtomicBoolean stop, boolean upload) {
        byte[] block = new byte[16 * 1024];
        while (!stop.get()) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", proxy.port()));
                s.setSoTimeout(5000);
                OutputStream out = s.getOutputStream();
                InputStream in = s.getInputStream();
                ThreadLocalRandom r = ThreadLocalRandom.current();
                if (upload) {
                    out.write(("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    int n = r.nextInt(1, 20);
                    for (int i = 0; i < n; i++) {
                        out.write(block);
                    }
                    out.flush();
                } else {
                    out.write("GET /stream?bytes=100000000 HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                    out.flush();
                    long want = r.nextInt(1, 400_000);
                    for (long got = 0; got < want; ) {
                        int n = in.read(block);
                        if (n < 0) {
                            break;
                        }
                        got += n;
                    }
                }
                if (r.nextBoolean()) {
                    s.setSoLinger(true, 0); // reset
                }
            } catch (Exception e) {
                // the proxy may close first
            }
            try {
                Thread.sleep(ThreadLocalRandom.current().nextInt(2, 15));
            } catch (InterruptedException e) {
                return null;
            }
        }
        return null;
    }
}
