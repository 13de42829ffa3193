package dev.rproxy.edge;

import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AsciiString;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Who sent a request. The connection's <em>peer</em> is the address a PROXY protocol header named
 * ({@link #PROXIED_PEER}, on a listener with {@code proxyProtocol}) or else the socket's remote
 * address. A peer in {@code trustedProxies} is a proxy whose word about its own client is believed:
 * its request's client is found by walking {@code X-Forwarded-For} from the right (the entries the
 * nearest proxies appended) to the right-most address that is not itself a trusted proxy, as
 * nginx's {@code real_ip_recursive} does. Without {@code
 * X-Forwarded-For} the {@code for=} parameters of {@code Forwarded} (RFC 7239) are walked the same
 * way. Any other peer is the client, whatever its headers say: they are the client's own words.
 *
 * <p>The walk ends early rather than guess: an entry that is not an address (a name, a typo, a
 * forgery that broke the syntax) stops it, and the last address before it, on the peer's side, is
 * the client. When every address is a trusted proxy the left-most one is. {@code unknown} and
 * obfuscated identifiers ({@code _hidden}, RFC 7239 section 6.3) say nothing and are passed over.
 * Addresses are parsed as literals ({@link NetUtil}); no name is ever resolved.
 *
 * <p>Where the answer is kept: {@link #CLIENT} on the channel that carries the request (an HTTP/1
 * connection, or an HTTP/2 stream's child channel), set for each request before it goes past the
 * sanitizer; {@link #of(Channel)} reads it. Immutable and thread-safe; the per-channel state is
 * {@link ChannelClient}.
 *
 * <p>Cost: with no trusted proxies (the default) nothing of a request is read; with some, only
 * requests from a trusted peer are, and their walk allocates a string per entry it looks at.
 */
public final class ClientIdentity {
    /**
     * The client of the latest request on this channel (an HTTP/1 connection or an HTTP/2 stream)
     * to pass the sanitizer, as {@link ChannelClient#resolve} found it; set before the request goes
     * on, so a handler behind reads its own request's client when the request arrives. One that
     * holds a request while later ones pass (pipelining) keeps what it read then. Read it with
     * {@link #of(Channel)}.
     */
    public static final AttributeKey<InetAddress> CLIENT = AttributeKey.valueOf(ClientIdentity.class, "client");

    /**
     * On a connection of a {@code proxyProtocol} listener: the source address its PROXY header
     * named, which stands for the socket's remote address wherever the peer matters. Absent when
     * the header named none (v2 {@code LOCAL}, {@code UNKNOWN}).
     */
    public static final AttributeKey<InetSocketAddress> PROXIED_PEER =
            AttributeKey.valueOf(ClientIdentity.class, "proxiedPeer");

    /** No trusted proxies: every client is its connection's peer. */
    public static final ClientIdentity NONE = new ClientIdentity(List.of());

    private static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    private static final AsciiString FORWARDED = AsciiString.cached("forwarded");

    private final Cidr[] trusted;

    /** @param trusted the blocks of {@code trustedProxies} */
    public ClientIdentity(List<Cidr> trusted) {
        this.trusted = trusted.toArray(new Cidr[0]);
    }

    /** The client of the request in progress on {@code ch}; before any, the connection's peer. */
    public static InetAddress of(Channel ch) {
        InetAddress client = ch.hasAttr(CLIENT) ? ch.attr(CLIENT).get() : null;
        return client != null ? client : address(peer(ch));
    }

    /**
     * The peer of the connection {@code ch} belongs to (an HTTP/2 stream: its parent's): the PROXY
     * header's source, or the socket's remote address.
     */
    public static SocketAddress peer(Channel ch) {
        Channel connection = ch instanceof Http2StreamChannel ? ch.parent() : ch;
        if (connection.hasAttr(PROXIED_PEER)) {
            InetSocketAddress proxied = connection.attr(PROXIED_PEER).get();
            if (proxied != null) {
                return proxied;
            }
        }
        return connection.remoteAddress();
    }

    /** The IP address of {@code address}; {@code null} when it has none (a local or test channel). */
    static InetAddress address(SocketAddress address) {
        return address instanceof InetSocketAddress inet ? inet.getAddress() : null;
    }

    /** The client tracker of one connection or HTTP/2 stream, with the peer it has. */
    public ChannelClient on(Channel ch) {
        return new ChannelClient(this, ch);
    }

    /** Whether a peer's forwarding headers are believed: it is in {@code trustedProxies}. */
    public boolean trusts(InetAddress peer) {
        return trusted.length > 0 && peer != null && isTrusted(peer.getAddress());
    }

    private boolean isTrusted(byte[] address) {
        for (Cidr block : trusted) {
            if (block.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The client a trusted {@code peer}'s request names: from {@code X-Forwarded-For} when it has
     * one, else from {@code Forwarded}, else {@code peer}.
     */
    public InetAddress fromHeaders(HttpHeaders headers, InetAddress peer) {
        List<String> forwardedFor = headers.getAll(X_FORWARDED_FOR);
        byte[] client;
        if (!forwardedFor.isEmpty()) {
            client = walkForwardedFor(forwardedFor);
        } else {
            List<String> forwarded = headers.getAll(FORWARDED);
            client = forwarded.isEmpty() ? null : walk(ForwardedField.forNodes(forwarded));
        }
        if (client == null) {
            return peer;
        }
        try {
            return InetAddress.getByAddress(client); // 4 or 16 bytes: no lookup, never fails
        } catch (UnknownHostException e) {
            return peer;
        }
    }

    /**
     * {@code X-Forwarded-For}: comma-separated addresses, each field line after the one before
     * (RFC 9110 section 5.3), so the walk goes from the last line's last entry leftwards. Empty
     * list elements are allowed and skipped.
     */
    private byte[] walkForwardedFor(List<String> fields) {
        byte[] last = null;
        for (int f = fields.size() - 1; f >= 0; f--) {
            String field = fields.get(f);
            int end = field.length();
            while (end >= 0) {
                int comma = field.lastIndexOf(',', end - 1);
                int start = comma + 1;
                int stop = end;
                end = comma;
                while (start < stop && isSpace(field.charAt(start))) {
                    start++;
                }
                while (stop > start && isSpace(field.charAt(stop - 1))) {
                    stop--;
                }
                if (start == stop) {
                    continue;
                }
                byte[] address = node(field.substring(start, stop), true);
                if (address == SKIP) {
                    continue;
                }
                if (address == null) {
                    return last; // not an address: what is left of it cannot be vouched for
                }
                if (!isTrusted(address)) {
                    return address;
                }
                last = address;
            }
        }
        return last;
    }

    /** {@code Forwarded}'s {@code for=} values, in order, {@code null} for a broken element; walked from the right. */
    private byte[] walk(List<String> nodes) {
        byte[] last = null;
        for (int i = nodes.size() - 1; i >= 0; i--) {
            String text = nodes.get(i);
            byte[] address = text == null ? null : node(text, false);
            if (address == SKIP) {
                continue;
            }
            if (address == null) {
                return last;
            }
            if (!isTrusted(address)) {
                return address;
            }
            last = address;
        }
        return last;
    }

    /** What {@link #node} returns for {@code unknown} and obfuscated identifiers: passed over. */
    private static final byte[] SKIP = new byte[0];

    /**
     * One node (RFC 7239 section 6): an IPv4 address or a bracketed IPv6 one, with or without a
     * port; in {@code X-Forwarded-For} ({@code bareV6}) also an IPv6 address without brackets, as
     * most proxies write it. {@link #SKIP} for {@code unknown} or {@code _obfuscated}, {@code null}
     * for anything else.
     */
    private static byte[] node(String text, boolean bareV6) {
        if (bareV6 || text.indexOf(':') < 0) { // without a colon, only IPv4 can parse
            byte[] plain = NetUtil.createByteArrayFromIpAddressString(text);
            if (plain != null) {
                return plain;
            }
        }
        String host;
        if (text.startsWith("[")) {
            int close = text.indexOf(']');
            if (close < 0 || !(close == text.length() - 1 || isPort(text, close + 1))) {
                return null;
            }
            host = text.substring(1, close);
            return NetUtil.isValidIpV6Address(host) ? NetUtil.createByteArrayFromIpAddressString(host) : null;
        }
        int colon = text.indexOf(':');
        if (colon >= 0 && !isPort(text, colon)) {
            return null;
        }
        host = colon < 0 ? text : text.substring(0, colon);
        if (host.equalsIgnoreCase("unknown") || (host.length() > 1 && host.charAt(0) == '_')) {
            return SKIP;
        }
        return NetUtil.isValidIpV4Address(host) ? NetUtil.createByteArrayFromIpAddressString(host) : null;
    }

    /** Whether {@code text} from {@code colon} on is {@code :port}: 1 to 5 digits, or an obfuscated port. */
    private static boolean isPort(String text, int colon) {
        int n = text.length() - colon - 1;
        if (text.charAt(colon) != ':' || n < 1) {
            return false;
        }
        if (text.charAt(colon + 1) == '_') {
            return n > 1;
        }
        if (n > 5) {
            return false;
        }
        for (int i = colon + 1; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t';
    }

    /** The {@code for=} values of {@code Forwarded} field lines (RFC 7239 section 4). */
    private static final class ForwardedField {
        private final String field;
        private int i;

        private ForwardedField(String field) {
            this.field = field;
        }

        /**
         * Each element's {@code for} value (unquoted), in order; {@code null} for an element that
         * does not parse (a pair without {@code =}, {@code for} twice, an unterminated quoted
         * string, which also takes the rest of its line). Elements without {@code for} are left
         * out.
         */
        static List<String> forNodes(List<String> fields) {
            List<String> nodes = new ArrayList<>(4);
            for (String field : fields) {
                new ForwardedField(field).elements(nodes);
            }
            return nodes;
        }

        private void elements(List<String> nodes) {
            int n = field.length();
            while (i < n) {
                String node = null;
                boolean broken = false;
                while (true) { // the pairs of one element, separated by ';'
                    skipSpace();
                    int name = i;
                    while (i < n && field.charAt(i) != '=' && field.charAt(i) != ';' && field.charAt(i) != ',') {
                        i++;
                    }
                    if (i == name && (i == n || field.charAt(i) != '=')) {
                        // an empty pair or element, which the grammar allows
                    } else if (i == n || field.charAt(i) != '=') {
                        broken = true;
                    } else {
                        String key = field.substring(name, i).trim();
                        i++;
                        skipSpace(); // the grammar has none around '=', some senders do
                        String value = value();
                        if (value == null) {
                            broken = true;
                            i = n; // an open quote swallows the line: no element boundary is left to trust
                        } else if (key.equalsIgnoreCase("for")) {
                            broken |= node != null;
                            node = value;
                        }
                    }
                    skipSpace();
                    if (i >= n || field.charAt(i) == ',') {
                        break;
                    }
                    if (field.charAt(i) != ';') {
                        broken = true;
                        while (i < n && field.charAt(i) != ',') {
                            i++;
                        }
                        break;
                    }
                    i++;
                }
                if (broken) {
                    nodes.add(null);
                } else if (node != null) {
                    nodes.add(node);
                }
                i++; // past ','
            }
        }

        /** A token or a quoted string (its quoted pairs undone); {@code null} for an unterminated quote. */
        private String value() {
            int n = field.length();
            if (i < n && field.charAt(i) == '"') {
                StringBuilder text = null;
                int start = ++i;
                while (i < n) {
                    char c = field.charAt(i);
                    if (c == '"') {
                        String value = text == null ? field.substring(start, i) : text.toString();
                        i++;
                        return value;
                    }
                    if (c == '\\' && i + 1 < n) {
                        if (text == null) {
                            text = new StringBuilder().append(field, start, i);
                        }
                        text.append(field.charAt(i + 1));
                        i += 2;
                        continue;
                    }
                    if (text != null) {
                        text.append(c);
                    }
                    i++;
                }
                return null;
            }
            int start = i;
            while (i < n && field.charAt(i) != ';' && field.charAt(i) != ',' && !isSpace(field.charAt(i))) {
                i++;
            }
            return field.substring(start, i);
        }

        private void skipSpace() {
            while (i < field.length() && isSpace(field.charAt(i))) {
                i++;
            }
        }
    }
}
