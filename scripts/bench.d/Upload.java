import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Upload client for the benchmark: one PUT of COUNT bytes with a Content-Length, on a new
 * connection, then reads the whole answer.
 *
 * <p>Usage: {@code java Upload HOST PORT PATH COUNT TIMEOUT_SECONDS CORE...}. Prints one line:
 * {@code STATUS SENT SECONDS ANSWER} followed, for each CORE given, by the busy and total jiffies
 * of that core (from /proc/stat) over the transfer. STATUS is 000 when no answer was read; ANSWER
 * is the answer's body with its line breaks removed ("-" if empty). SECONDS runs from the connect
 * to the last byte of the answer.
 *
 * <p>The body is sent from one direct buffer, written over and over: every byte costs the load
 * core one copy into the socket, as it costs the proxy one copy out of its socket and one into
 * the next. A client that reads the body from a file first (curl -T) spends a third copy, enough
 * to make the load core the bottleneck for nginx and HAProxy capped to half a core. The proxy
 * sees the same stream either way. The load core's jiffies are sampled here, around the transfer
 * alone, so that the start of this JVM does not count.
 */
public final class Upload {
    private static final int CHUNK = 64 * 1024;

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String path = args[2];
        long count = Long.parseLong(args[3]);
        long timeoutSeconds = Long.parseLong(args[4]);
        int[] cores = new int[args.length - 5];
        for (int i = 0; i < cores.length; i++) {
            cores[i] = Integer.parseInt(args[5 + i]);
        }
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(timeoutSeconds * 1000);
                System.err.println("upload: no answer within " + timeoutSeconds + " s");
                System.out.println("000 0 " + timeoutSeconds + " -");
                System.out.flush();
                Runtime.getRuntime().halt(2);
            } catch (InterruptedException e) {
                // the transfer ended in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();

        ByteBuffer body = ByteBuffer.allocateDirect(CHUNK);
        byte[] head = ("PUT " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
                + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + count + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        long[] before = jiffies(cores);
        long t0 = System.nanoTime();
        long sent = 0;
        String status = "000";
        String answer = "";
        try (SocketChannel ch = SocketChannel.open(new InetSocketAddress(host, port))) {
            writeFully(ch, ByteBuffer.wrap(head));
            try {
                while (sent < count) {
                    body.clear();
                    if (count - sent < CHUNK) {
                        body.limit((int) (count - sent));
                    }
                    sent += ch.write(body);
                }
            } catch (IOException e) {
                // The proxy may have answered and closed early; its answer is still read below.
                System.err.println("upload: sending stopped after " + sent + " bytes: " + e.getMessage());
            }
            String[] res = readAnswer(ch);
            if (res != null) {
                status = res[0];
                answer = res[1];
            }
        } catch (IOException e) {
            System.err.println("upload: " + e.getMessage());
        }
        long t1 = System.nanoTime();
        long[] after = jiffies(cores);
        watchdog.interrupt();
        StringBuilder out = new StringBuilder();
        out.append(status).append(' ').append(sent).append(' ')
                .append(String.format(Locale.ROOT, "%.6f", (t1 - t0) / 1e9)).append(' ')
                .append(answer.isEmpty() ? "-" : answer.replaceAll("\\s+", ""));
        for (int i = 0; i < cores.length; i++) {
            out.append(' ').append(after[2 * i] - before[2 * i]).append(' ').append(after[2 * i + 1] - before[2 * i + 1]);
        }
        System.out.println(out);
    }

    private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** {status, body} of the answer, reading to its Content-Length or to the end of the stream. */
    private static String[] readAnswer(SocketChannel ch) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        StringBuilder got = new StringBuilder();
        int headEnd = -1;
        long length = -1;
        while (true) {
            if (headEnd >= 0 && length >= 0 && got.length() - headEnd - 4 >= length) {
                break;
            }
            in.clear();
            int n = ch.read(in);
            if (n < 0) {
                break;
            }
            got.append(new String(in.array(), 0, n, StandardCharsets.ISO_8859_1));
            if (headEnd < 0) {
                headEnd = got.indexOf("\r\n\r\n");
                if (headEnd >= 0) {
                    for (String line : got.substring(0, headEnd).split("\r\n")) {
                        int colon = line.indexOf(':');
                        if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase("content-length")) {
                            length = Long.parseLong(line.substring(colon + 1).trim());
                        }
                    }
                }
            }
        }
        if (headEnd < 0 || !got.toString().startsWith("HTTP/1.") || got.length() < 12) {
            return null;
        }
        String rest = got.substring(headEnd + 4);
        return new String[] {got.substring(9, 12), length >= 0 && rest.length() > length ? rest.substring(0, (int) length) : rest};
    }

    /** Busy and total jiffies of each core, as in the bench script's core_jiffies. */
    private static long[] jiffies(int[] cores) throws IOException {
        long[] r = new long[2 * cores.length];
        for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
            String[] f = line.trim().split("\\s+");
            for (int i = 0; i < cores.length; i++) {
                if (f[0].equals("cpu" + cores[i])) {
                    long busy = Long.parseLong(f[1]) + Long.parseLong(f[2]) + Long.parseLong(f[3])
                            + Long.parseLong(f[6]) + Long.parseLong(f[7]) + Long.parseLong(f[8]);
                    r[2 * i] = busy;
                    r[2 * i + 1] = busy + Long.parseLong(f[4]) + Long.parseLong(f[5]);
                }
            }
        }
        return r;
    }
}
