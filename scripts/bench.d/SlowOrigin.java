import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The slow backend of scripts/bench-balance: an HTTP/1.1 origin that answers every request with
 * the same 128-byte body as the fast origins, after a fixed delay. {@code GET /_count} answers the
 * number of requests served since the last {@code /_count} (and starts counting again).
 *
 * <p>Usage: {@code java SlowOrigin.java PORT DELAY_MS}; listens on 127.0.0.1 only; one thread per
 * request in flight (a sleeping request holds a thread, not a core).
 */
public final class SlowOrigin {
    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        long delayMs = Long.parseLong(args[1]);
        byte[] body = "x".repeat(127).concat("\n").getBytes(StandardCharsets.US_ASCII);
        AtomicLong served = new AtomicLong();
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 4096);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            byte[] answer = body;
            if (ex.getRequestURI().getPath().equals("/_count")) {
                answer = (served.getAndSet(0) + "\n").getBytes(StandardCharsets.US_ASCII);
            } else {
                served.incrementAndGet();
                try {
                    Thread.sleep(delayMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            ex.getResponseHeaders().set("Content-Type", "text/plain");
            ex.sendResponseHeaders(200, answer.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(answer);
            }
        });
        server.start();
        System.out.println("slow origin on " + port + ", " + delayMs + " ms");
    }
}
