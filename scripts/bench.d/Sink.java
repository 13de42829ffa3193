import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Upload sink for the benchmark: an HTTP/1.1 origin that reads every request body to the end
 * (Content-Length or chunked), throws the bytes away and only then answers 200 with the number of
 * body bytes it received, so a client can check that nothing was lost on the way.
 *
 * <p>Usage: {@code java Sink.java PORT [PORT...]}; listens on 127.0.0.1 only. One thread per
 * connection, keep-alive, answers {@code Expect: 100-continue}. {@code GET /_health} answers 200.
 *
 * <p>The sink runs on the load-generator core, whose spare capacity decides whether a measurement
 * is valid, so it reads with as little work per byte as it can: blocking channel reads of up to
 * 1 MiB into a direct buffer, one copy from the kernel and none on the heap.
 */
public final class Sink {
    private static final int MAX_HEAD = 64 * 1024;
    private static final int BUFFER = 1 << 20;

    public static void main(String[] args) throws IOException {
        for (String arg : args) {
            ServerSocketChannel server = ServerSocketChannel.open();
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), Integer.parseInt(arg)), 1024);
            Thread acceptor = new Thread(() -> acceptLoop(server), "accept-" + arg);
            acceptor.start();
        }
        System.out.println("sink listening on " + String.join(",", args));
    }

    private static void acceptLoop(ServerSocketChannel server) {
        while (true) {
            try {
                SocketChannel s = server.accept();
                s.setOption(StandardSocketOptions.TCP_NODELAY, true);
                s.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
                Thread t = new Thread(() -> new Conn(s).serve(), "conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    /** One client connection; {@code buf} holds bytes read but not yet consumed (read mode). */
    private static final class Conn {
        private final SocketChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER).flip();

        Conn(SocketChannel ch) {
            this.ch = ch;
        }

        void serve() {
            try (ch) {
                while (true) {
                    String head = readHead();
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
                    if (lines[0].endsWith("HTTP/1.0")) {
                        close = true;
                    }
                    if (expect) {
                        write("HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    long received = chunked ? discardChunked() : discard(length);
                    if (received < 0) {
                        return;
                    }
                    String body = received + "\n";
                    write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length()
                            + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body);
                    if (close) {
                        return;
                    }
                }
            } catch (IOException | RuntimeException e) {
                // The connection is gone or spoke garbage: nothing to answer.
            }
        }

        /** Refills the empty buffer; returns the count read, -1 at the end of the stream. */
        private int fill() throws IOException {
            buf.clear();
            int n = ch.read(buf);
            buf.flip();
            return n;
        }

        private int next() throws IOException {
            if (!buf.hasRemaining() && fill() < 0) {
                return -1;
            }
            return buf.get() & 0xff;
        }

        private void write(String s) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII));
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        /** The request head up to and without the blank line, or null at a clean end of stream. */
        private String readHead() throws IOException {
            StringBuilder sb = new StringBuilder(256);
            int matched = 0;
            while (true) {
                int c = next();
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

        /**
         * Consumes exactly {@code length} bytes; returns them, or -1 if the stream ended early.
         * Bytes read past the body (a pipelined next request) stay in the buffer.
         */
        private long discard(long length) throws IOException {
            long left = length;
            while (left > 0) {
                if (!buf.hasRemaining() && fill() < 0) {
                    return -1;
                }
                int take = (int) Math.min(buf.remaining(), left);
                buf.position(buf.position() + take);
                left -= take;
            }
            return length;
        }

        private long discardChunked() throws IOException {
            long total = 0;
            while (true) {
                String sizeLine = readLine();
                int semi = sizeLine.indexOf(';');
                long size = Long.parseLong((semi >= 0 ? sizeLine.substring(0, semi) : sizeLine).trim(), 16);
                if (size == 0) {
                    while (!readLine().isEmpty()) {
                        // trailer fields are dropped
                    }
                    return total;
                }
                if (discard(size) < 0) {
                    return -1;
                }
                total += size;
                readLine();
            }
        }

        private String readLine() throws IOException {
            StringBuilder sb = new StringBuilder();
            while (true) {
                int c = next();
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
}
