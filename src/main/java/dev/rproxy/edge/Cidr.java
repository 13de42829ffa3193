package dev.rproxy.edge;

import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.List;

/**
 * An address block in CIDR notation ({@code 10.0.0.0/8}, {@code 2001:db8::/32}), or one address
 * ({@code 127.0.0.1}: {@code /32}; {@code ::1}: {@code /128}). An IPv4 block also contains the
 * IPv4-mapped IPv6 form of its addresses ({@code ::ffff:10.1.2.3}), which a dual-stack socket
 * reports for IPv4 peers. Parsing never resolves a name.
 */
public final class Cidr {
    private final byte[] network;
    private final int prefix;
    private final String text;

    private Cidr(byte[] network, int prefix, String text) {
        this.network = network;
        this.prefix = prefix;
        this.text = text;
    }

    /** Parses {@code text}; {@link IllegalArgumentException} with the reason when it is not a block. */
    public static Cidr parse(String text) {
        int slash = text.indexOf('/');
        String address = slash < 0 ? text : text.substring(0, slash);
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(address);
        if (bytes == null) {
            throw new IllegalArgumentException("not an IP address: " + address);
        }
        int bits = bytes.length * 8;
        int prefix = bits;
        if (slash >= 0) {
            String length = text.substring(slash + 1);
            if (length.isEmpty() || length.length() > 3 || !length.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("not a prefix length: /" + length);
            }
            prefix = Integer.parseInt(length);
            if (prefix > bits) {
                throw new IllegalArgumentException("prefix /" + prefix + " longer than the address (" + bits + " bits)");
            }
        }
        for (int bit = prefix; bit < bits; bit++) {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0) {
                throw new IllegalArgumentException(text + " has host bits set (the block is "
                        + NetUtil.bytesToIpAddress(mask(bytes, prefix)) + "/" + prefix + ")");
            }
        }
        return new Cidr(bytes, prefix, text);
    }

    /** Parses each of {@code texts}. */
    public static List<Cidr> parseAll(List<String> texts) {
        return texts.stream().map(Cidr::parse).toList();
    }

    public boolean contains(InetAddress address) {
        return address != null && contains(address.getAddress());
    }

    /** {@code address}: 4 or 16 bytes, as {@link InetAddress#getAddress} gives them. */
    public boolean contains(byte[] address) {
        byte[] a = address;
        if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
            a = new byte[] {a[12], a[13], a[14], a[15]};
        }
        if (a.length != network.length) {
            return false;
        }
        int whole = prefix / 8;
        for (int i = 0; i < whole; i++) {
            if (a[i] != network[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int m = (0xff << (8 - rest)) & 0xff;
        return (a[whole] & m) == (network[whole] & m);
    }

    /** Whether any of {@code blocks} contains {@code address}. */
    public static boolean anyContains(List<Cidr> blocks, InetAddress address) {
        if (address == null) {
            return false;
        }
        byte[] bytes = address.getAddress();
        for (Cidr block : blocks) {
            if (block.contains(bytes)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code address} is IPv4 (or IPv4-mapped IPv6). */
    public static boolean isV4(InetAddress address) {
        return address instanceof Inet4Address || isV4Mapped(address.getAddress());
    }

    private static boolean isV4Mapped(byte[] a) {
        if (a.length != 16) {
            return false;
        }
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }

    private static byte[] mask(byte[] bytes, int prefix) {
        byte[] out = bytes.clone();
        for (int bit = prefix; bit < out.length * 8; bit++) {
            out[bit / 8] &= (byte) ~(0x80 >> (bit % 8));
        }
        return out;
    }

    @Override
    public String toString() {
        return text;
    }
}
