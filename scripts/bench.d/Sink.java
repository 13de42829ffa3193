import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Upload sink for the benchmark: an HTTP/1.1 origin that reads every request body to the end
 * (Content-Length or chunked), throws the bytes away and only then answers 200 with the number of
 * body bytes it received, so a client can check that nothing was lost on the way.
 *
 * <p>Usage: {@code java Sink.java PORT [PORT...]}; listens on 127.0.0.1 only. One thread per
 * connection, keep-alive, answers {@code Expect: 100-continue}. {@code GET /_health} answers 200.
 */
public final class Sink {
    private static final int MAX_HEAD = 64 * 1024;

    public static void main(String[] args) throws IOException {
        for (String arg : args) {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), Integer.parseInt(arg)), 1024);
            Thread acceptor = new Thread(() -> acceptLoop(server), "accept-" + arg);
            acceptor.start();
        }
        System.out.println("sink listening on " + String.join(",", args));
    }

    private static void acceptLoop(ServerSocket server) {
        while (true) {
            try {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                s.setReceiveBufferSize(1 << 20);
                Thread t = new Thread(() -> serve(s), "conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private static void serve(Socket s) {
        byte[] buf = new byte[1 << 20];
        try (s) {
            InputStream in = new BufferedInputStream(s.getInputStream(), 1 << 16);
            OutputStream out = s.getOutputStream();
            while (true) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                String[] lines = head.split("\r\n");
                long length = 0;
                boolean chunked = false;
                boolean close = false;
                boolean expect = false;
                for (int i = 1; i < lines.length; i++) {
                    int colon = lines[i].indexOf(':');
                    if (colon <= 0) {
                        continue;
                    }
                    String name = lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT);
                    String value = lines[i].substring(colon + 1).trim().toLowerCase(Locale.ROOT);
                    switch (name) {
                        case "content-length" -> length = Long.parseLong(value);
                        case "transfer-encoding" -> chunked = value.endsWith("chunked");
                        case "connection" -> close = value.contains("close");
                        case "expect" -> expect = value.equals("100-continue");
                        default -> { }
                    }
                }
                if (lines[0].startsWith("HTTP/1.0") || lines[0].endsWith("HTTP/1.0")) {
                    close = true;
                }
                if (expect) {
                    out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
                long received = chunked ? discardChunked(in, buf) : discard(in, buf, length);
                if (received < 0) {
                    return;
                }
                String body = received + "\n";
                String response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length()
                        + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
                out.write(response.getBytes(StandardCharsets.US_ASCII));
                out.flush();
                if (close) {
                    return;
                }
            }
        } catch (IOException | RuntimeException e) {
            // The connection is gone or spoke garbage: nothing to answer.
        }
    }

    /** The request head up to and without the blank line, or null at a clean end of stream. */
    private static String readHead(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder(256);
        int matched = 0;
        while (true) {
            int c = in.read();
            if (c < 0) {
                return null;
            }
            if (sb.length() == 0 && (c == '\r' || c == '\n')) {
                continue;
            }
            sb.append((char) c);
            matched = (c == "\r\n\r\n".charAt(matched)) ? matched + 1 : (c == '\r' ? 1 : 0);
            if (matched == 4) {
                return sb.substring(0, sb.length() - 4);
            }
            if (sb.length() > MAX_HEAD) {
                throw new IOException("head too large");
            }
        }
    }

    /** Reads and drops exactly {@code length} bytes; returns them, or -1 if the stream ended early. */
    private static long discard(InputStream in, byte[] buf, long length) throws IOException {
        long left = length;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                return -1;
            }
            left -= n;
        }
        return length;
    }

    private static long discardChunked(InputStream in, byte[] buf) throws IOException {
        long total = 0;
        while (true) {
            String sizeLine = readLine(in);
            int semi = sizeLine.indexOf(';');
            long size = Long.parseLong((semi >= 0 ? sizeLine.substring(0, semi) : sizeLine).trim(), 16);
            if (size == 0) {
                while (!readLine(in).isEmpty()) {
                    // trailer fields are dropped
                }
                return total;
            }
            if (discard(in, buf, size) < 0) {
                return -1;
            }
            total += size;
            readLine(in);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new IOException("eof in chunked body");
            }
            if (c == '\n') {
                int len = sb.length();
                return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
            }
            sb.append((char) c);
        }
    }
}
