package dev.rproxy.edge;

import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.Attribute;
import java.net.InetAddress;
import java.net.SocketAddress;

/**
 * The clients of one HTTP/1 connection or HTTP/2 stream: its peer, worked out once, when the first
 * request arrives (on a {@code proxyProtocol} listener the PROXY header has been read by then), and
 * the client of each request, which {@link #resolve} records in {@link ClientIdentity#CLIENT}.
 *
 * <p>The peer's text is what {@code X-Forwarded-For} gets appended and, when the peer is the
 * client, what {@code X-Real-IP} and the access log say; it is made once per connection, as before
 * client identity existed. A client behind a trusted proxy is written twice per request ({@code
 * X-Real-IP}, then the access log): its text is kept for the second time.
 *
 * <p>Confined to the channel's event loop.
 */
public final class ChannelClient {
    private final ClientIdentity identity;
    private final Attribute<InetAddress> client;
    private final InetAddress peer;
    private final String peerText;
    private final boolean peerTrusted;
    private InetAddress lastClient;
    private String lastClientText;

    ChannelClient(ClientIdentity identity, Channel ch) {
        this.identity = identity;
        SocketAddress peerAddress = ClientIdentity.peer(ch);
        this.peer = ClientIdentity.address(peerAddress);
        this.peerText = peer != null ? peer.getHostAddress() : String.valueOf(peerAddress);
        this.peerTrusted = identity.trusts(peer);
        this.client = ch.attr(ClientIdentity.CLIENT);
    }

    /**
     * The client of the request with {@code headers}, also recorded on the channel for the
     * handlers after the sanitizer: the peer, unless the peer is a trusted proxy and the headers
     * name someone else. {@code null} only when the peer has no IP address (a test channel).
     */
    public InetAddress resolve(HttpHeaders headers) {
        InetAddress resolved = peerTrusted ? identity.fromHeaders(headers, peer) : peer;
        client.set(resolved);
        return resolved;
    }

    /** The peer's address as text, for {@code X-Forwarded-For}. */
    public String peerText() {
        return peerText;
    }

    /** {@code address} (a client {@link #resolve} gave) as text; {@code null}: the peer's text. */
    public String text(InetAddress address) {
        if (address == null || address == peer) {
            return peerText;
        }
        if (!address.equals(lastClient)) {
            lastClient = address;
            lastClientText = address.getHostAddress();
        }
        return lastClientText;
    }
}
