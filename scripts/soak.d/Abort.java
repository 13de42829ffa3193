import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Aborted transfers for scripts/soak: WORKERS threads that, until SECONDS have passed, start large
 * uploads and downloads and give them up part way.
 *
 * <p>Usage: {@code java Abort.java HOST PORT WORKERS SECONDS}.
 *
 * <p>Each worker alternates: a {@code POST /sink} announcing {@value #ANNOUNCED} bytes of body that
 * sends a random 256 KiB to 4 MiB of it, and a {@code GET /stream?bytes=}{@value #ANNOUNCED} that
 * reads a random 256 KiB to 4 MiB of the body. Then it abandons the connection, in turn with a
 * plain close (FIN) and with a reset (SO_LINGER 0, so the kernel sends RST). Every socket read has a
 * 5 s timeout; a write that blocks longer than that (the proxy stopped reading) is ended when the
 * socket is closed by the stall watchdog. A short pause follows each transfer, which keeps the CPU
 * this takes moderate.
 *
 * <p>Prints at the end: {@code abort uploads=N downloads=N aborted=N early=N failed=N mib=X}, where
 * {@code aborted} counts transfers that reached their abort point, {@code early} those the server
 * ended first (an answer, a close or a reset before the abort point), {@code failed} those that
 * could not start (connect failures) or stalled (a read timed out, or a write was still blocked
 * when the watchdog closed it). The program ends by itself within SECONDS + 6 s.
 */
public final class Abort {
    private static final long ANNOUNCED = 256L * 1024 * 1024;
    private static final int TIMEOUT_MS = 5000;
    private static final int PAUSE_MS = 25;

    private static final AtomicLong uploads = new AtomicLong();
    private static final AtomicLong downloads = new AtomicLong();
    private static final AtomicLong aborted = new AtomicLong();
    private static final AtomicLong early = new AtomicLong();
    private static final AtomicLong failed = new AtomicLong();
    private static final AtomicLong bytes = new AtomicLong();
    private static final Set<Socket> open = ConcurrentHashMap.newKeySet();

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: java Abort.java HOST PORT WORKERS SECONDS");
            System.exit(2);
        }
        InetSocketAddress target = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        int workers = Integer.parseInt(args[2]);
        long end = System.nanoTime() + Long.parseLong(args[3]) * 1_000_000_000L;
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            int id = i;
            Thread t = new Thread(() -> work(target, id, end), "abort-" + i);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        // Stall watchdog: once the time is up, sockets still open after a grace period are closed,
        // which unblocks a worker stuck in a write.
        long graceEnd = end + TIMEOUT_MS * 1_000_000L;
        for (Thread t : threads) {
            t.join(Math.max(1, (graceEnd - System.nanoTime()) / 1_000_000));
        }
        for (Socket s : open) {
            if (open.remove(s)) {
                failed.incrementAndGet();
                closeQuietly(s);
            }
        }
        for (Thread t : threads) {
            t.join(1000);
        }
        System.out.printf("abort uploads=%d downloads=%d aborted=%d early=%d failed=%d mib=%.1f%n",
                uploads.get(), downloads.get(), aborted.get(), early.get(), failed.get(), bytes.get() / 1048576.0);
    }

    private static void work(InetSocketAddress target, int id, long end) {
        byte[] block = new byte[64 * 1024];
        ThreadLocalRandom random = ThreadLocalRandom.current();
        random.nextBytes(block);
        for (long n = id; System.nanoTime() < end; n++) {
            boolean upload = n % 2 == 0;
            boolean reset = (n / 2) % 2 == 0;
            long abortAt = random.nextLong(256 * 1024, 4 * 1024 * 1024 + 1);
            Socket s = new Socket();
            open.add(s);
            try {
                s.setSoTimeout(TIMEOUT_MS);
                s.connect(target, TIMEOUT_MS);
                if (upload) {
                    uploads.incrementAndGet();
                    upload(s, block, abortAt, target.getPort());
                } else {
                    downloads.incrementAndGet();
                    download(s, block, abortAt, target.getPort());
                }
                aborted.incrementAndGet();
                if (reset) {
                    s.setSoLinger(true, 0);
                }
            } catch (EndedByServer e) {
                early.incrementAndGet();
            } catch (SocketTimeoutException e) {
                failed.incrementAndGet();
            } catch (IOException e) {
                // Refused or unreachable: failed. A reset or close from the server part way: early.
                if (!s.isConnected()) {
                    failed.incrementAndGet();
                } else if (open.contains(s)) {
                    early.incrementAndGet();
                }
            } finally {
                if (open.remove(s)) {
                    closeQuietly(s);
                }
            }
            try {
                Thread.sleep(PAUSE_MS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** The server answered or closed before the abort point. */
    private static final class EndedByServer extends IOException {
        EndedByServer() {
            super(null, null);
        }
    }

    private static void upload(Socket s, byte[] block, long abortAt, int port) throws IOException {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        out.write(("POST /sink HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nContent-Type: application/octet-stream\r\n"
                + "Content-Length: " + ANNOUNCED + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        long sent = 0;
        while (sent < abortAt) {
            int len = (int) Math.min(block.length, abortAt - sent);
            out.write(block, 0, len);
            sent += len;
            bytes.addAndGet(len);
            if (in.available() > 0) {
                throw new EndedByServer();
            }
        }
        out.flush();
    }

    private static void download(Socket s, byte[] block, long abortAt, int port) throws IOException {
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        out.write(("GET /stream?bytes=" + ANNOUNCED + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.flush();
        long read = 0;
        while (read < abortAt) {
            int r = in.read(block, 0, (int) Math.min(block.length, abortAt - read));
            if (r < 0) {
                throw new EndedByServer();
            }
            read += r;
            bytes.addAndGet(r);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
