using System.Runtime.InteropServices;
using AkiDb.Queue.Quantization.Onnx;
using AkiDb.Queue.Worker.Native;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Tests.Native;

/// <summary>
/// The native backend's shared weights on a tiny generated graph (Y = X · W): the reader finds the initializer in the
/// file, two sessions built on it (one and two threads, one prepacked container) compute what a plain session does,
/// and a file it cannot read is a clear error.
/// </summary>
public sealed class SharedWeightsTests : IDisposable
{
    private const int In = 16, Out = 8;
    private static readonly float[] W = Enumerable.Range(0, In * Out).Select(i => MathF.Sin(i * 0.37f)).ToArray();
    private readonly string _folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "akidb-shared-weights", Guid.NewGuid().ToString("N"))).FullName;

    [Fact]
    public void Two_sessions_on_the_shared_weights_compute_what_a_plain_session_does()
    {
        var path = Path.Combine(_folder, "m.onnx");
        File.WriteAllBytes(path, TinyModel().ToByteArray());
        var input = Enumerable.Range(0, 3 * In).Select(i => (float)Math.Cos(i)).ToArray();
        var expected = Run(path, input, threads: 1, null, null);

        using var weights = SharedWeights.Open(path);
        using var prepacked = new PrePackedWeightsContainer();
        Assert.Equal(1, weights.Count);
        var narrow = Run(path, input, threads: 1, weights, prepacked);
        var wide = Run(path, input, threads: 2, weights, prepacked);
        weights.DropResidentPages(); // the mapping stays readable: its pages come back from the file
        var afterDrop = Run(path, input, threads: 2, weights, prepacked);

        Assert.Equal(expected, narrow);
        Assert.Equal(expected, wide);
        Assert.Equal(expected, afterDrop);
    }

    [Fact]
    public void A_truncated_file_is_invalid_data()
    {
        var path = Path.Combine(_folder, "cut.onnx");
        var bytes = TinyModel().ToByteArray();
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => SharedWeights.Open(path));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static float[] Run(string path, float[] input, int threads, SharedWeights? weights, PrePackedWeightsContainer? prepacked)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads };
        weights?.AddTo(options);
        using var session = prepacked is null ? new InferenceSession(path, options) : new InferenceSession(path, options, prepacked);
        using var x = OrtValue.CreateTensorValueFromMemory(input, [input.Length / In, In]);
        using var outputs = session.Run(new RunOptions(), ["x"], [x], ["y"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static ModelProto TinyModel()
    {
        var graph = new GraphProto
        {
            Name = "tiny",
            Input = { Value("x", In) },
            Output = { Value("y", Out) },
            Initializer =
            {
                new TensorProto
                {
                    Name = "w", DataType = (int)TensorProto.Types.DataType.Float, Dims = { In, Out },
                    RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(W.AsSpan())),
                },
            },
            Node = { new NodeProto { Name = "mm", OpType = "MatMul", Input = { "x", "w" }, Output = { "y" } } },
        };
        return new ModelProto { IrVersion = 7, ProducerName = "test", Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
    }

    private static ValueInfoProto Value(string name, int width) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "batch" }, new TensorShapeProto.Types.Dimension { DimValue = width } } },
            },
        },
    };
}
