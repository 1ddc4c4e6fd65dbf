namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// The few lines of the protobuf wire format <see cref="SharedWeights"/> needs to find an ONNX file's initializers
/// without copying them (why not Google.Protobuf: see there).
/// </summary>
internal static class ProtoFields
{
    public const int Varint = 0, Fixed64 = 1, Length = 2, Fixed32 = 5;

    /// <summary>(field number, wire type, value or start, end) for each field in data[start..end].</summary>
    public static List<(int Number, int Wire, int A, int B)> Read(ReadOnlySpan<byte> data, int start, int end)
    {
        var fields = new List<(int, int, int, int)>();
        var i = start;
        while (i < end)
        {
            var key = ReadVarint(data, ref i, end);
            var (number, wire) = ((int)(key >> 3), (int)(key & 7));
            switch (wire)
            {
                case Varint:
                    var value = ReadVarint(data, ref i, end);
                    fields.Add((number, wire, (int)Math.Min(value, int.MaxValue), i));
                    break;
                case Length:
                    var size = (int)ReadVarint(data, ref i, end);
                    if (size < 0 || i + size > end)
                    {
                        throw new InvalidDataException("A length-delimited protobuf field runs past its message.");
                    }

                    fields.Add((number, wire, i, i + size));
                    i += size;
                    break;
                case Fixed64:
                    i += 8;
                    break;
                case Fixed32:
                    i += 4;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported protobuf wire type {wire}.");
            }
        }

        return fields;
    }

    public static ulong ReadVarint(ReadOnlySpan<byte> data, ref int i, int end)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (i >= end)
            {
                throw new InvalidDataException("A protobuf varint is truncated.");
            }

            var b = data[i++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw new InvalidDataException("A protobuf varint is too long.");
    }
}
