import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens N keep-alive client connections to a proxy, sends one small GET on each, reads its complete
 * response and then holds every connection open and idle, so that the proxy's memory per idle
 * connection can be measured.
 *
 * <p>Usage: {@code java IdleConns HOST PORT COUNT PATH DEADLINE_SECONDS}. Prints
 * {@code ready ok=N failed=M ms=T} once every connection has its response (or the deadline passed), then
 * holds them until it is killed or the deadline passes. Every socket has SO_LINGER 0, so when the
 * process ends the kernel resets them and no TIME_WAIT is left behind. At most 256 connects are in
 * flight at once.
 */
public final class IdleConns {
    private static final int IN_FLIGHT = 256;

    /** Per connection: bytes of the response seen so far. */
    private static final class Conn {
        final SocketChannel ch;
        final StringBuilder head = new StringBuilder();
        long bodyLeft = -1;
        boolean done;

        Conn(SocketChannel ch) {
            this.ch = ch;
        }
    }

    public static void main(String[] args) throws Exception {
        InetSocketAddress target = new InetSocketAddress(args[0], Integer.parseInt(args[1]));
        int count = Integer.parseInt(args[2]);
        String extraField = args.length > 5 ? args[5] + "\r\n" : "";
        byte[] request = ("GET " + args[3] + " HTTP/1.1\r\nHost: " + args[0] + "\r\n" + extraField + "\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        long start = System.nanoTime();
        long deadline = start + Long.parseLong(args[4]) * 1_000_000_000L;

        Selector selector = Selector.open();
        List<Conn> all = new ArrayList<>(count);
        ByteBuffer readBuf = ByteBuffer.allocate(64 * 1024);
        int started = 0;
        int inFlight = 0;
        int ok = 0;
        int failed = 0;
        while ((ok + failed) < count && System.nanoTime() < deadline) {
            while (started < count && inFlight < IN_FLIGHT) {
                SocketChannel ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                ch.setOption(StandardSocketOptions.SO_LINGER, 0);
                Conn c = new Conn(ch);
                all.add(c);
                started++;
                inFlight++;
                try {
                    if (ch.connect(target)) {
                        ch.write(ByteBuffer.wrap(request));
                        ch.register(selector, SelectionKey.OP_READ, c);
                    } else {
                        ch.register(selector, SelectionKey.OP_CONNECT, c);
                    }
                } catch (IOException e) {
                    failed++;
                    inFlight--;
                    ch.close();
                }
            }
            selector.select(100);
            for (SelectionKey key : selector.selectedKeys()) {
                Conn c = (Conn) key.attachment();
                try {
                    if (key.isConnectable()) {
                        c.ch.finishConnect();
                        c.ch.write(ByteBuffer.wrap(request));
                        key.interestOps(SelectionKey.OP_READ);
                    } else if (key.isReadable()) {
                        readBuf.clear();
                        int n = c.ch.read(readBuf);
                        if (n < 0) {
                            throw new IOException("closed by peer");
                        }
                        readBuf.flip();
                        if (consume(c, readBuf)) {
                            c.done = true;
                            key.interestOps(0);
                            ok++;
                            inFlight--;
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    key.cancel();
                    c.ch.close();
                    failed++;
                    inFlight--;
                }
            }
            selector.selectedKeys().clear();
        }
        failed += count - ok - failed;
        System.out.println("ready ok=" + ok + " failed=" + failed + " ms=" + (System.nanoTime() - start) / 1_000_000);
        System.out.flush();

        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            Thread.sleep(Math.max(1, Math.min(1000, left / 1_000_000)));
        }
        for (Conn c : all) {
            try {
                c.ch.close();
            } catch (IOException e) {
                // already gone
            }
        }
    }

    /** Feeds response bytes; true once one complete 2xx response with a Content-Length body was read. */
    private static boolean consume(Conn c, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (c.bodyLeft < 0) {
                c.head.append((char) (buf.get() & 0xff));
                int len = c.head.length();
                if (len >= 4 && c.head.charAt(len - 1) == '\n' && c.head.charAt(len - 2) == '\r'
                        && c.head.charAt(len - 3) == '\n' && c.head.charAt(len - 4) == '\r') {
                    String head = c.head.toString();
                    if (!head.startsWith("HTTP/1.1 2")) {
                        throw new IOException("status " + head.split("\r\n", 2)[0]);
                    }
                    long length = -1;
                    for (String line : head.split("\r\n")) {
                        int colon = line.indexOf(':');
                        if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase("content-length")) {
                            length = Long.parseLong(line.substring(colon + 1).trim());
                        }
                    }
                    if (length < 0) {
                        throw new IOException("no Content-Length in response");
                    }
                    c.bodyLeft = length;
                }
            } else {
                int skip = (int) Math.min(buf.remaining(), c.bodyLeft);
                buf.position(buf.position() + skip);
                c.bodyLeft -= skip;
            }
            if (c.bodyLeft == 0) {
                if (buf.hasRemaining()) {
                    throw new IOException("unexpected bytes after the response");
                }
                return true;
            }
        }
        return false;
    }
}
