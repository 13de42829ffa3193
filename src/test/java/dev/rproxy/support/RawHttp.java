package dev.rproxy.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A raw-socket HTTP/1.1 client for tests where the bytes on the wire are the point: it sends
 * exactly what it is given and parses responses strictly (status line, headers as sent, body by
 * Content-Length, chunks, or close).
 */
public final class RawHttp implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    public RawHttp(int port) throws IOException {
        this(port, null);
    }

    /** From {@code localAddress} (another loopback address, such as {@code 127.0.0.2}: another peer). */
    public RawHttp(int port, String localAddress) throws IOException {
        socket = new Socket();
        if (localAddress != null) {
            socket.bind(new InetSocketAddress(localAddress, 0));
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(15_000);
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    public RawHttp send(String text) throws IOException {
        return send(text.getBytes(StandardCharsets.ISO_8859_1));
    }

    public RawHttp send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
        return this;
    }

    public Socket socket() {
        return socket;
    }

    /** One parsed response. */
    public record Response(String statusLine, int status, List<String[]> headers, byte[] body) {
        public String header(String name) {
            for (String[] h : headers) {
                if (h[0].equalsIgnoreCase(name)) {
                    return h[1];
                }
            }
            return null;
        }

        public List<String> headers(String name) {
            List<String> values = new ArrayList<>();
            for (String[] h : headers) {
                if (h[0].equalsIgnoreCase(name)) {
                    values.add(h[1]);
                }
            }
            return values;
        }

        public Map<String, String> headerMap() {
            Map<String, String> m = new LinkedHashMap<>();
            for (String[] h : headers) {
                m.put(h[0].toLowerCase(Locale.ROOT), h[1]);
            }
            return m;
        }

        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** Reads one response; {@code head} says the request was HEAD (no body whatever the headers). */
    public Response read(boolean head) throws IOException {
        String statusLine = readLine();
        if (statusLine == null) {
            throw new IOException("connection closed before a response");
        }
        String[] parts = statusLine.split(" ", 3);
        int status = Integer.parseInt(parts[1]);
        List<String[]> headers = new ArrayList<>();
        for (String line = readLine(); line != null && !line.isEmpty(); line = readLine()) {
            int colon = line.indexOf(':');
            headers.add(new String[] {line.substring(0, colon), line.substring(colon + 1).trim()});
        }
        Response partial = new Response(statusLine, status, headers, new byte[0]);
        if (head || status / 100 == 1 || status == 204 || status == 304) {
            return partial;
        }
        String te = partial.header("transfer-encoding");
        String cl = partial.header("content-length");
        byte[] body;
        if (te != null && te.equalsIgnoreCase("chunked")) {
            body = readChunked();
        } else if (cl != null) {
            body = in.readNBytes(Integer.parseInt(cl));
        } else {
            body = in.readAllBytes();
        }
        return new Response(statusLine, status, headers, body);
    }

    public Response read() throws IOException {
        return read(false);
    }

    private byte[] readChunked() throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        while (true) {
            String sizeLine = readLine();
            if (sizeLine == null) {
                throw new IOException("connection closed inside a chunked body");
            }
            int size = Integer.parseInt(sizeLine.trim(), 16);
            if (size == 0) {
                for (String line = readLine(); line != null && !line.isEmpty(); line = readLine()) {
                    // trailers are ignored
                }
                return body.toByteArray();
            }
            body.write(in.readNBytes(size));
            readLine();
        }
    }

    private String readLine() throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int n = sb.length();
                if (n > 0 && sb.charAt(n - 1) == '\r') {
                    sb.setLength(n - 1);
                }
                return sb.toString();
            }
            sb.append((char) c);
        }
        return sb.length() == 0 ? null : sb.toString();
    }

    /** True when the peer has closed the connection (reads end of stream within the timeout). */
    public boolean isClosedByPeer(int timeoutMs) throws IOException {
        int old = socket.getSoTimeout();
        socket.setSoTimeout(timeoutMs);
        try {
            return in.read() == -1;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset
        } finally {
            socket.setSoTimeout(old);
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
