package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap.SimpleImmutableEntry;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Map.Entry;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The fields of a decoded HTTP/1 head, as positions in the bytes the head arrived in, with the
 * edits the proxy makes on the way (fields removed, fields added) kept beside them.
 *
 * <p>Nothing is copied or parsed again to read or forward a head: a lookup compares the name's
 * bytes in place, and {@link #writeTo} writes the field section for the next hop as runs of the
 * original bytes, skipping the lines removed, then the lines added. A line is copied as it came
 * when it is already in the form {@code name: value} with nothing around the value; any other is
 * written in that form (one space after the colon, the value without the whitespace around it), so
 * the next hop sees the same bytes as from a map of the fields.
 *
 * <p>The usual {@link HttpHeaders} view on top: names are matched case-insensitively, the fields
 * are kept in order (those added after those received), and values are returned as the decoder
 * checked them (visible ASCII, obs-text, and inner spaces and tabs). Not thread-safe, like every
 * head; it lives on its connection's event loop.
 */
public final class HeadFields extends HttpHeaders {
    private static final short COLON_SP = (short) ((':' << 8) | ' ');
    private static final short CRLF = (short) (('\r' << 8) | '\n');
    private static final CharSequence[] NONE = {};

    private final byte[] head;
    /** Four positions per field received: name start and end, value start and end (trimmed). */
    private final int[] pos;
    private final int received;
    /** Just past the CRLF of the last field line received. */
    private final int fieldsEnd;
    private boolean[] removed;
    private int live;
    /** Fields added, name and value in turn. */
    private CharSequence[] added = NONE;
    private int addedLength;

    /**
     * @param head      the head's bytes, which no one changes afterwards
     * @param pos       four positions per field in {@code head} (owned by this object from now on)
     * @param count     fields received
     * @param fieldsEnd just past the CRLF of the last field line (where the empty line begins)
     */
    HeadFields(byte[] head, int[] pos, int count, int fieldsEnd) {
        this.head = head;
        this.pos = pos;
        this.received = count;
        this.live = count;
        this.fieldsEnd = fieldsEnd;
    }

    // ------------------------------------------------------------------ forwarding

    /**
     * For the HTTP/1 encoders: writes {@code headers} for the next hop when they are a relayed
     * head's fields, as {@link #writeTo} does; false for any other headers (the proxy's own
     * responses), which the encoder writes itself.
     */
    static boolean write(HttpHeaders headers, ByteBuf buf) {
        if (headers instanceof HeadFields fields) {
            fields.writeTo(buf);
            return true;
        }
        return false;
    }

    /**
     * Writes the field section (each line with its CRLF, without the empty line that ends the
     * head) for the next hop.
     */
    public void writeTo(ByteBuf buf) {
        int run = -1;
        for (int i = 0, f = 0; i < received; i++, f += 4) {
            int ns = pos[f];
            int ne = pos[f + 1];
            int vs = pos[f + 2];
            int ve = pos[f + 3];
            int lineEnd = i + 1 < received ? pos[f + 4] : fieldsEnd;
            boolean keep = removed == null || !removed[i];
            if (keep && vs == ne + 2 && head[ne + 1] == ' ' && lineEnd == ve + 2) {
                if (run < 0) {
                    run = ns;
                }
                continue;
            }
            if (run >= 0) {
                buf.writeBytes(head, run, ns - run);
                run = -1;
            }
            if (keep) {
                buf.writeBytes(head, ns, ne - ns);
                buf.writeShort(COLON_SP);
                buf.writeBytes(head, vs, ve - vs);
                buf.writeShort(CRLF);
            }
        }
        if (run >= 0) {
            buf.writeBytes(head, run, fieldsEnd - run);
        }
        for (int i = 0; i < addedLength; i += 2) {
            write(buf, added[i]);
            buf.writeShort(COLON_SP);
            write(buf, added[i + 1]);
            buf.writeShort(CRLF);
        }
    }

    private static void write(ByteBuf buf, CharSequence text) {
        if (text instanceof AsciiString ascii) {
            buf.writeBytes(ascii.array(), ascii.arrayOffset(), ascii.length());
        } else {
            ByteBufUtil.writeAscii(buf, text);
        }
    }

    // ------------------------------------------------------------------ matching

    private boolean isLive(int i) {
        return removed == null || !removed[i];
    }

    private boolean nameIs(int i, CharSequence name) {
        int f = i * 4;
        int start = pos[f];
        int n = pos[f + 1] - start;
        if (name.length() != n) {
            return false;
        }
        if (name instanceof AsciiString ascii) {
            byte[] other = ascii.array();
            int offset = ascii.arrayOffset();
            for (int k = 0; k < n; k++) {
                if (lower(head[start + k]) != lower(other[offset + k])) {
                    return false;
                }
            }
            return true;
        }
        for (int k = 0; k < n; k++) {
            char c = name.charAt(k);
            if (c > 0x7f || lower(head[start + k]) != lower((byte) c)) {
                return false;
            }
        }
        return true;
    }

    private static int lower(byte b) {
        return b >= 'A' && b <= 'Z' ? b + 32 : b;
    }

    private static boolean addedNameIs(CharSequence addedName, CharSequence name) {
        return AsciiString.contentEqualsIgnoreCase(addedName, name);
    }

    private AsciiString nameView(int i) {
        int f = i * 4;
        return new AsciiString(head, pos[f], pos[f + 1] - pos[f], false);
    }

    private AsciiString valueView(int i) {
        int f = i * 4;
        return new AsciiString(head, pos[f + 2], pos[f + 3] - pos[f + 2], false);
    }

    private String valueString(int i) {
        int f = i * 4;
        return new String(head, pos[f + 2], pos[f + 3] - pos[f + 2], StandardCharsets.ISO_8859_1);
    }

    // ------------------------------------------------------------------ reading

    @Override
    public String get(String name) {
        return get((CharSequence) name);
    }

    @Override
    public String get(CharSequence name) {
        for (int i = 0; i < received; i++) {
            if (isLive(i) && nameIs(i, name)) {
                return valueString(i);
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name)) {
                return added[i + 1].toString();
            }
        }
        return null;
    }

    @Override
    public Integer getInt(CharSequence name) {
        return parsed(name, Integer::valueOf);
    }

    @Override
    public int getInt(CharSequence name, int defaultValue) {
        Integer value = getInt(name);
        return value != null ? value : defaultValue;
    }

    @Override
    public Short getShort(CharSequence name) {
        return parsed(name, Short::valueOf);
    }

    /** The first value of {@code name} as a number; null when there is none or it is not one. */
    private <T> T parsed(CharSequence name, Function<String, T> parse) {
        String value = get(name);
        if (value == null) {
            return null;
        }
        try {
            return parse.apply(value);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    @Override
    public short getShort(CharSequence name, short defaultValue) {
        Short value = getShort(name);
        return value != null ? value : defaultValue;
    }

    @Override
    public Long getTimeMillis(CharSequence name) {
        String value = get(name);
        Date date = value != null ? DateFormatter.parseHttpDate(value) : null;
        return date != null ? date.getTime() : null;
    }

    @Override
    public long getTimeMillis(CharSequence name, long defaultValue) {
        Long value = getTimeMillis(name);
        return value != null ? value : defaultValue;
    }

    @Override
    public List<String> getAll(String name) {
        return getAll((CharSequence) name);
    }

    @Override
    public List<String> getAll(CharSequence name) {
        List<String> values = null;
        for (int i = 0; i < received; i++) {
            if (isLive(i) && nameIs(i, name)) {
                values = add(values, valueString(i));
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name)) {
                values = add(values, added[i + 1].toString());
            }
        }
        return values != null ? values : List.of();
    }

    private static <T> List<T> add(List<T> list, T value) {
        List<T> to = list != null ? list : new ArrayList<>(2);
        to.add(value);
        return to;
    }

    @Override
    public Iterator<String> valueStringIterator(CharSequence name) {
        return getAll(name).iterator();
    }

    @Override
    public Iterator<? extends CharSequence> valueCharSequenceIterator(CharSequence name) {
        List<CharSequence> values = null;
        for (int i = 0; i < received; i++) {
            if (isLive(i) && nameIs(i, name)) {
                values = add(values, valueView(i));
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name)) {
                values = add(values, added[i + 1]);
            }
        }
        return values != null ? values.iterator() : Collections.emptyIterator();
    }

    /**
     * Whether a field {@code name} has {@code value} as one of its comma-separated elements
     * (trimmed), as {@link HttpHeaders#containsValue} says, read in place: {@code Connection}, {@code
     * Transfer-Encoding} and {@code Expect} are asked about for every message.
     */
    @Override
    public boolean containsValue(CharSequence name, CharSequence value, boolean ignoreCase) {
        for (int i = 0, f = 0; i < received; i++, f += 4) {
            if (isLive(i) && nameIs(i, name) && hasElement(head, pos[f + 2], pos[f + 3], value, ignoreCase)) {
                return true;
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name)) {
                byte[] bytes = added[i + 1].toString().getBytes(StandardCharsets.ISO_8859_1);
                if (hasElement(bytes, 0, bytes.length, value, ignoreCase)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether an element of the comma-separated list in {@code bytes[from, to)}, trimmed, is {@code value}. */
    private static boolean hasElement(byte[] bytes, int from, int to, CharSequence value, boolean ignoreCase) {
        int start = from;
        for (int p = from; p <= to; p++) {
            if (p == to || bytes[p] == ',') {
                int a = start;
                int b = p;
                while (a < b && (bytes[a] == ' ' || bytes[a] == '\t')) {
                    a++;
                }
                while (b > a && (bytes[b - 1] == ' ' || bytes[b - 1] == '\t')) {
                    b--;
                }
                if (regionIs(bytes, a, b, value, ignoreCase)) {
                    return true;
                }
                start = p + 1;
            }
        }
        return false;
    }

    private static boolean regionIs(byte[] bytes, int from, int to, CharSequence value, boolean ignoreCase) {
        int n = to - from;
        if (value.length() != n) {
            return false;
        }
        for (int k = 0; k < n; k++) {
            char c = value.charAt(k);
            byte b = bytes[from + k];
            if (c > 0xff || (ignoreCase ? lower(b) != lower((byte) c) : (b & 0xff) != c)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean contains(String name) {
        return contains((CharSequence) name);
    }

    @Override
    public boolean contains(CharSequence name) {
        for (int i = 0; i < received; i++) {
            if (isLive(i) && nameIs(i, name)) {
                return true;
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean contains(CharSequence name, CharSequence value, boolean ignoreCase) {
        for (int i = 0, f = 0; i < received; i++, f += 4) {
            if (isLive(i) && nameIs(i, name) && regionIs(head, pos[f + 2], pos[f + 3], value, ignoreCase)) {
                return true;
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            if (addedNameIs(added[i], name) && (ignoreCase ? AsciiString.contentEqualsIgnoreCase(added[i + 1], value)
                    : AsciiString.contentEquals(added[i + 1], value))) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean contains(String name, String value, boolean ignoreCase) {
        return contains((CharSequence) name, value, ignoreCase);
    }

    @Override
    public List<Entry<String, String>> entries() {
        List<Entry<String, String>> entries = new ArrayList<>(size());
        for (int i = 0; i < received; i++) {
            if (isLive(i)) {
                entries.add(new SimpleImmutableEntry<>(nameView(i).toString(), valueString(i)));
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            entries.add(new SimpleImmutableEntry<>(added[i].toString(), added[i + 1].toString()));
        }
        return entries;
    }

    @Override
    public Iterator<Entry<String, String>> iterator() {
        return entries().iterator();
    }

    @Override
    public Iterator<Entry<CharSequence, CharSequence>> iteratorCharSequence() {
        List<Entry<CharSequence, CharSequence>> entries = new ArrayList<>(size());
        for (int i = 0; i < received; i++) {
            if (isLive(i)) {
                entries.add(new SimpleImmutableEntry<>(nameView(i), valueView(i)));
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            entries.add(new SimpleImmutableEntry<>(added[i], added[i + 1]));
        }
        return entries.iterator();
    }

    @Override
    public boolean isEmpty() {
        return size() == 0;
    }

    @Override
    public int size() {
        return live + addedLength / 2;
    }

    @Override
    public Set<String> names() {
        Set<String> names = new TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        for (int i = 0; i < received; i++) {
            if (isLive(i)) {
                names.add(nameView(i).toString());
            }
        }
        for (int i = 0; i < addedLength; i += 2) {
            names.add(added[i].toString());
        }
        return names;
    }

    // ------------------------------------------------------------------ editing

    @Override
    public HttpHeaders add(String name, Object value) {
        return add((CharSequence) name, value);
    }

    @Override
    public HttpHeaders add(CharSequence name, Object value) {
        if (addedLength == added.length) {
            // Twelve slots: the four forwarding fields and a request id, without a second copy.
            added = Arrays.copyOf(added, Math.max(12, added.length * 2));
        }
        added[addedLength++] = name;
        added[addedLength++] = text(value);
        return this;
    }

    private static CharSequence text(Object value) {
        if (value instanceof CharSequence text) {
            return text;
        }
        if (value instanceof Date date) {
            return DateFormatter.format(date);
        }
        return String.valueOf(value);
    }

    @Override
    public HttpHeaders add(String name, Iterable<?> values) {
        return add((CharSequence) name, values);
    }

    @Override
    public HttpHeaders add(CharSequence name, Iterable<?> values) {
        for (Object value : values) {
            add(name, value);
        }
        return this;
    }

    @Override
    public HttpHeaders addInt(CharSequence name, int value) {
        return add(name, Integer.toString(value));
    }

    @Override
    public HttpHeaders addShort(CharSequence name, short value) {
        return add(name, Short.toString(value));
    }

    @Override
    public HttpHeaders set(String name, Object value) {
        return set((CharSequence) name, value);
    }

    @Override
    public HttpHeaders set(CharSequence name, Object value) {
        remove(name);
        return add(name, value);
    }

    @Override
    public HttpHeaders set(String name, Iterable<?> values) {
        return set((CharSequence) name, values);
    }

    @Override
    public HttpHeaders set(CharSequence name, Iterable<?> values) {
        remove(name);
        return add(name, values);
    }

    @Override
    public HttpHeaders setInt(CharSequence name, int value) {
        return set(name, Integer.toString(value));
    }

    @Override
    public HttpHeaders setShort(CharSequence name, short value) {
        return set(name, Short.toString(value));
    }

    @Override
    public HttpHeaders remove(String name) {
        return remove((CharSequence) name);
    }

    @Override
    public HttpHeaders remove(CharSequence name) {
        for (int i = 0; i < received; i++) {
            if (isLive(i) && nameIs(i, name)) {
                if (removed == null) {
                    removed = new boolean[received];
                }
                removed[i] = true;
                live--;
            }
        }
        int to = 0;
        for (int i = 0; i < addedLength; i += 2) {
            if (!addedNameIs(added[i], name)) {
                added[to++] = added[i];
                added[to++] = added[i + 1];
            }
        }
        Arrays.fill(added, to, addedLength, null);
        addedLength = to;
        return this;
    }

    @Override
    public HttpHeaders clear() {
        if (received > 0) {
            removed = new boolean[received];
            Arrays.fill(removed, true);
        }
        live = 0;
        Arrays.fill(added, 0, addedLength, null);
        addedLength = 0;
        return this;
    }
}
