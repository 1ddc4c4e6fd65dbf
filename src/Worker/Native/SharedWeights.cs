using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AkiDb.Queue.Worker.Native;

/// <summary>
/// The weights of an ONNX model, memory-mapped read-only once and handed to its narrow and wide sessions with
/// <c>AddInitializer</c>, so the second session does not load a second copy (+87 MiB for all-MiniLM-L6-v2).
/// ONNX Runtime documents this pairing (shared initializers plus a <see cref="PrePackedWeightsContainer"/>) for
/// sessions of one model; what it does not offer is a way to get the initializers without parsing the file, so this
/// reads the few protobuf fields it needs (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.dims = 1,
/// data_type = 2, name = 8, raw_data = 9). Parsing with Google.Protobuf (src/Quantization has the schema) would copy
/// every raw_data into managed memory, the opposite of the point. The Python bridge does the same in weights.py.
/// An initializer stored another way (typed fields, external data) is left to ONNX Runtime: correct, only not shared.
/// </summary>
internal sealed unsafe partial class SharedWeights : IDisposable
{
    private const int Varint = ProtoFields.Varint, Length = ProtoFields.Length;
    private static readonly HashSet<int> OtherDataFields = [4, 5, 6, 7, 10, 11, 13, 14];

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;
    private readonly List<(string Name, OrtValue Value)> _values = [];
    private readonly List<nint> _copies = []; // misaligned tensors, copied to aligned native memory
    private bool _disposed;

    private SharedWeights(string path)
    {
        _length = new FileInfo(path).Length;
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
    }

    public int Count => _values.Count;

    /// <summary>Maps <paramref name="path"/> and wraps its initializers; throws <see cref="InvalidDataException"/> for a file it cannot read.</summary>
    public static SharedWeights Open(string path)
    {
        var weights = new SharedWeights(path);
        try
        {
            weights.Scan();
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    public void AddTo(SessionOptions options)
    {
        foreach (var (name, value) in _values)
        {
            options.AddInitializer(name, value);
        }
    }

    /// <summary>
    /// Hands the mapping's pages back to the page cache (<c>madvise(MADV_DONTNEED)</c> on a read-only file mapping):
    /// what a later run reads faults back in from the file. Linux only; elsewhere nothing happens.
    /// </summary>
    public void DropResidentPages()
    {
        if (!OperatingSystem.IsLinux() || _disposed)
        {
            return;
        }

        var pageSize = Environment.SystemPageSize;
        var start = (nint)_base & ~(nint)(pageSize - 1);
        var length = (nuint)((nint)_base - start + _length);
        try
        {
            _ = Madvise(start, length, MadvDontNeed);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var (_, value) in _values)
        {
            value.Dispose();
        }

        foreach (var copy in _copies)
        {
            NativeMemory.AlignedFree((void*)copy);
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private void Scan()
    {
        if (_length > int.MaxValue)
        {
            throw new InvalidDataException("A model over 2 GB keeps its weights in external data, which this reader does not share.");
        }

        var data = new ReadOnlySpan<byte>(_base, (int)_length);
        foreach (var (number, wire, start, end) in ProtoFields.Read(data, 0, data.Length))
        {
            if (number != 7 || wire != Length)
            {
                continue;
            }

            foreach (var (field, type, a, b) in ProtoFields.Read(data, start, end))
            {
                if (field == 5 && type == Length && Tensor(data, a, b) is { } tensor)
                {
                    _values.Add(tensor);
                }
            }
        }
    }

    private (string Name, OrtValue Value)? Tensor(ReadOnlySpan<byte> data, int start, int end)
    {
        List<long> dims = [];
        var dataType = 0;
        string? name = null;
        (int Start, int End)? raw = null;
        foreach (var (number, wire, a, b) in ProtoFields.Read(data, start, end))
        {
            switch (number)
            {
                case 1 when wire == Varint:
                    dims.Add(a);
                    break;
                case 1 when wire == Length:
                    for (var i = a; i < b;)
                    {
                        dims.Add((long)ProtoFields.ReadVarint(data, ref i, b));
                    }

                    break;
                case 2 when wire == Varint:
                    dataType = a;
                    break;
                case 8 when wire == Length:
                    name = Encoding.UTF8.GetString(data[a..b]);
                    break;
                case 9 when wire == Length:
                    raw = (a, b);
                    break;
                default:
                    if (OtherDataFields.Contains(number))
                    {
                        return null;
                    }

                    break;
            }
        }

        if (name is null || raw is not { } bytes || ElementSize(dataType) is not { } size)
        {
            return null;
        }

        var count = dims.Aggregate(1L, (x, y) => x * y);
        var length = bytes.End - bytes.Start;
        if (count * size != length)
        {
            return null;
        }

        var address = (nint)(_base + bytes.Start);
        if (address % size != 0)
        {
            // ONNX Runtime's kernels may assume natural alignment: a misaligned tensor is copied once (exporters align them).
            var copy = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), 64);
            _copies.Add(copy);
            data.Slice(bytes.Start, length).CopyTo(new Span<byte>((void*)copy, length));
            address = copy;
        }

        var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)dataType, [.. dims], address, length);
        return (name, value);
    }

    private static int? ElementSize(int dataType) => dataType switch
    {
        1 or 6 => 4, // float, int32
        2 or 3 or 9 => 1, // uint8, int8, bool
        5 or 10 => 2, // int16, float16
        7 or 11 => 8, // int64, double
        _ => null,
    };

    private const int MadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
