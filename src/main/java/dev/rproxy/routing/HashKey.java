package dev.rproxy.routing;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Iterator;

/**
 * What a consistent-hash balancer hashes: the client's address, the path, a header field or a
 * cookie. The hash is a pure function of the key's characters (64-bit FNV-1a, then MurmurHash3's
 * finalizer to spread the bits), the same in every process: proxies that see the same backends send
 * a key to the same one. Computed over the request's own strings, without copying them.
 */
final class HashKey {
    /** No key in this request (the field or cookie is absent). Real hashes are never 0. */
    static final long NONE = 0;

    private enum Kind { CLIENT_IP, PATH, HEADER, COOKIE }

    private final Kind kind;
    private final AsciiString header;
    private final String cookie;

    private HashKey(Kind kind, String header, String cookie) {
        this.kind = kind;
        this.header = header == null ? null : AsciiString.cached(header);
        this.cookie = cookie;
    }

    /** {@code client_ip}, {@code path}, {@code header:NAME} or {@code cookie:NAME} (checked by the config). */
    static HashKey parse(String key) {
        if (key.equals("client_ip")) {
            return new HashKey(Kind.CLIENT_IP, null, null);
        }
        if (key.equals("path")) {
            return new HashKey(Kind.PATH, null, null);
        }
        String name = key.substring(key.indexOf(':') + 1);
        return key.startsWith("header:") ? new HashKey(Kind.HEADER, name, null) : new HashKey(Kind.COOKIE, null, name);
    }

    long hash(HttpRequest request, SocketAddress client) {
        switch (kind) {
            case CLIENT_IP:
                if (client instanceof InetSocketAddress address && address.getAddress() != null) {
                    return nonZero(mix(address.getAddress().hashCode()));
                }
                return NONE;
            case PATH: {
                String uri = request.uri();
                int query = uri.indexOf('?');
                return hash(uri, 0, query < 0 ? uri.length() : query);
            }
            case HEADER: {
                String value = request.headers().get(header);
                return value == null ? NONE : hash(value, 0, value.length());
            }
            default: {
                Iterator<? extends CharSequence> values = request.headers().valueCharSequenceIterator(HttpHeaderNames.COOKIE);
                while (values.hasNext()) {
                    long h = cookieHash(values.next());
                    if (h != NONE) {
                        return h;
                    }
                }
                return NONE;
            }
        }
    }

    /** The hash of the value of cookie {@link #cookie} in one {@code Cookie} field (RFC 6265 section 5.4). */
    private long cookieHash(CharSequence field) {
        int n = field.length();
        int i = 0;
        while (i < n) {
            while (i < n && (field.charAt(i) == ' ' || field.charAt(i) == ';')) {
                i++;
            }
            int eq = i;
            while (eq < n && field.charAt(eq) != '=' && field.charAt(eq) != ';') {
                eq++;
            }
            int end = eq;
            while (end < n && field.charAt(end) != ';') {
                end++;
            }
            if (eq < n && field.charAt(eq) == '=' && eq - i == cookie.length() && regionMatches(field, i, cookie)) {
                int start = eq + 1;
                int stop = end;
                if (stop - start >= 2 && field.charAt(start) == '"' && field.charAt(stop - 1) == '"') {
                    start++;
                    stop--;
                }
                return hash(field, start, stop);
            }
            i = end;
        }
        return NONE;
    }

    private static boolean regionMatches(CharSequence field, int from, String name) {
        for (int k = 0; k < name.length(); k++) {
            if (field.charAt(from + k) != name.charAt(k)) {
                return false;
            }
        }
        return true;
    }

    /** The hash of {@code s[from, to)}: never {@link #NONE}. */
    static long hash(CharSequence s, int from, int to) {
        long h = 0xcbf29ce484222325L;
        for (int i = from; i < to; i++) {
            h ^= s.charAt(i);
            h *= 0x100000001b3L;
        }
        return nonZero(mix(h));
    }

    /** MurmurHash3's 64-bit finalizer. */
    static long mix(long h) {
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }

    private static long nonZero(long h) {
        return h == NONE ? 1 : h;
    }
}
