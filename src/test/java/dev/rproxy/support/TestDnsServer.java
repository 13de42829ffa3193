package dev.rproxy.support;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An authoritative DNS server on loopback UDP for tests: it answers A and SRV questions from maps
 * a test changes while it runs, every record with one TTL; a name it does not know gets NXDOMAIN,
 * a type it has nothing of for a known name an empty answer (AAAA, say). {@link #stop()} closes
 * the socket, so questions go unanswered (the resolver times out), as with a server that is down.
 */
public final class TestDnsServer implements AutoCloseable {
    /** One SRV record (RFC 2782): its target is a name, resolved by its A records. */
    public record Srv(int priority, int weight, int port, String target) {}

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("test-dns", true),
            NioIoHandler.newFactory());
    private final Channel channel;
    private final Map<String, List<String>> addresses = new ConcurrentHashMap<>();
    private final Map<String, List<Srv>> services = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> questions = new ConcurrentHashMap<>();
    private volatile int ttlSeconds;

    public TestDnsServer(int ttlSeconds) throws InterruptedException {
        this.ttlSeconds = ttlSeconds;
        channel = new Bootstrap().group(group).channel(NioDatagramChannel.class)
                .handler(new io.netty.channel.ChannelInitializer<NioDatagramChannel>() {
                    @Override
                    protected void initChannel(NioDatagramChannel ch) {
                        ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(), new Answer());
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
    }

    /** {@code 127.0.0.1:port}, for {@code discovery.nameservers}. */
    public String address() {
        return "127.0.0.1:" + ((InetSocketAddress) channel.localAddress()).getPort();
    }

    /** The A records of {@code name} are now {@code ips} (none: the name is known, without addresses). */
    public TestDnsServer a(String name, String... ips) {
        addresses.put(key(name), List.of(ips));
        return this;
    }

    /** The SRV records of {@code name} are now {@code records}. */
    public TestDnsServer srv(String name, Srv... records) {
        services.put(key(name), List.of(records));
        return this;
    }

    /** {@code name} is not known any more: NXDOMAIN. */
    public TestDnsServer remove(String name) {
        addresses.remove(key(name));
        services.remove(key(name));
        return this;
    }

    public TestDnsServer ttl(int seconds) {
        this.ttlSeconds = seconds;
        return this;
    }

    /** Questions of {@code type} about {@code name} answered so far. */
    public int questions(String name, DnsRecordType type) {
        AtomicInteger n = questions.get(type.name() + " " + key(name));
        return n == null ? 0 : n.get();
    }

    /** Closes the socket: questions are left unanswered from now on. */
    public void stop() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        stop();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private static String key(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return lower.endsWith(".") ? lower : lower + ".";
    }

    /** Answers one question per query, as an authoritative server. */
    private final class Answer extends SimpleChannelInboundHandler<DatagramDnsQuery> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramDnsQuery query) {
            DnsQuestion question = query.recordAt(DnsSection.QUESTION);
            DatagramDnsResponse response = new DatagramDnsResponse(query.recipient(), query.sender(), query.id());
            response.setAuthoritativeAnswer(true);
            if (question == null) {
                response.setCode(DnsResponseCode.FORMERR);
                ctx.writeAndFlush(response);
                return;
            }
            String name = key(question.name());
            questions.computeIfAbsent(question.type().name() + " " + name, k -> new AtomicInteger()).incrementAndGet();
            response.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(question.name(), question.type()));
            List<String> ips = addresses.get(name);
            List<Srv> srvs = services.get(name);
            if (ips == null && srvs == null) {
                response.setCode(DnsResponseCode.NXDOMAIN);
            } else if (question.type() == DnsRecordType.A && ips != null) {
                for (String ip : ips) {
                    response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), DnsRecordType.A,
                            ttlSeconds, Unpooled.wrappedBuffer(NetUtil.createByteArrayFromIpAddressString(ip))));
                }
            } else if (question.type() == DnsRecordType.SRV && srvs != null) {
                for (Srv srv : srvs) {
                    response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(question.name(), DnsRecordType.SRV,
                            ttlSeconds, rdata(srv)));
                }
            }
            ctx.writeAndFlush(response);
        }

        /** Priority, weight, port, then the target as uncompressed labels. */
        private ByteBuf rdata(Srv srv) {
            ByteBuf out = Unpooled.buffer();
            out.writeShort(srv.priority()).writeShort(srv.weight()).writeShort(srv.port());
            for (String label : srv.target().split("\\.")) {
                if (!label.isEmpty()) {
                    byte[] bytes = label.getBytes(StandardCharsets.US_ASCII);
                    out.writeByte(bytes.length).writeBytes(bytes);
                }
            }
            return out.writeByte(0);
        }
    }
}
