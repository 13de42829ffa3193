import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The slow backend of scripts/bench-balance: an HTTP/1.1 origin that answers every request with
 * the same 128-byte body as the fast origins, after a fixed delay. {@code GET /_count} answers at
 * once with the number of requests served since the last {@code /_count} (and starts again).
 *
 * <p>Usage: {@code java SlowOrigin.java PORT DELAY_MS}; listens on 127.0.0.1 only. One thread per
 * connection with blocking sockets and keep-alive, so a sleeping request holds a thread, not a
 * core, and however many connections a proxy keeps open, each is served as soon as it asks.
 * Requests carry no body here; one with {@code Content-Length} has it read and dropped.
 */
public final class SlowOrigin {
    private static final byte[] BODY = "x".repeat(127).concat("\n").getBytes(StandardCharsets.US_ASCII);
    private static final AtomicLong SERVED = new AtomicLong();

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        long delayMs = Long.parseLong(args[1]);
        ServerSocket server = new ServerSocket(port, 4096, InetAddress.getLoopbackAddress());
        System.out.println("slow origin on " + port + ", " + delayMs + " ms");
        while (true) {
            Socket socket = server.accept();
            Thread t = new Thread(() -> serve(socket, delayMs));
            t.setDaemon(true);
            t.start();
        }
    }

    private static void serve(Socket socket, long delayMs) {
        try (socket; InputStream in = new BufferedInputStream(socket.getInputStream()); OutputStream out = socket.getOutputStream()) {
            socket.setTcpNoDelay(true);
            StringBuilder head = new StringBuilder();
            while (true) {
                head.setLength(0);
                int c;
                while ((c = in.read()) >= 0) {
                    head.append((char) c);
                    if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) {
                        break;
                    }
                }
                if (c < 0) {
                    return;
                }
                String lower = head.toString().toLowerCase(Locale.ROOT);
                int cl = lower.indexOf("\r\ncontent-length:");
                if (cl >= 0) {
                    long length = Long.parseLong(lower.substring(cl + 17, lower.indexOf("\r\n", cl + 2)).trim());
                    in.skipNBytes(length);
                }
                byte[] body = BODY;
                if (lower.startsWith("get /_count ")) {
                    body = (SERVED.getAndSet(0) + "\n").getBytes(StandardCharsets.US_ASCII);
                } else {
                    SERVED.incrementAndGet();
                    Thread.sleep(delayMs);
                }
                boolean close = lower.contains("\r\nconnection: close");
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length + "\r\n"
                        + (close ? "Connection: close\r\n" : "") + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                if (close) {
                    return;
                }
            }
        } catch (IOException | InterruptedException e) {
            // the connection ends
        }
    }
}
