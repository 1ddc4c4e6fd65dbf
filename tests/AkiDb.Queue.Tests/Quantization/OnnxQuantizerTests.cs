using System.Runtime.InteropServices;
using AkiDb.Queue.Quantization;
using AkiDb.Queue.Quantization.Onnx;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Tests;

/// <summary>The quantiser on a tiny generated graph: Y = (X · W1) · W2, with W1 [8, 6] and W2 [6, 5].</summary>
public sealed class OnnxQuantizerTests
{
    private const int In = 8, Hidden = 6, Out = 5;

    private static readonly float[] W1 = Weights(In * Hidden, seed: 1, columnScale: c => 0.05f * (c + 1));
    private static readonly float[] W2 = Weights(Hidden * Out, seed: 2, columnScale: _ => 1f);

    [Fact]
    public void Every_weight_is_recovered_within_half_a_quantisation_step_of_its_column()
    {
        var (values, scales) = SymmetricInt8.QuantizePerColumn(W1, In, Hidden);

        for (var c = 0; c < Hidden; c++)
        {
            var column = Enumerable.Range(0, In).Select(r => W1[r * Hidden + c]).ToArray();
            Assert.Equal(column.Max(MathF.Abs) / 127f, scales[c], 6);
            for (var r = 0; r < In; r++)
            {
                var error = MathF.Abs(SymmetricInt8.Dequantize(values[r * Hidden + c], scales[c]) - column[r]);
                Assert.True(error <= scales[c] / 2 * 1.0001f, $"[{r}, {c}]: error {error} > half step {scales[c] / 2}");
            }
        }
    }

    [Fact]
    public void An_all_zero_column_quantises_to_zeros()
    {
        var (values, scales) = SymmetricInt8.QuantizePerColumn(new float[6], 3, 2);
        Assert.All(values, v => Assert.Equal(0, v));
        Assert.All(scales, s => Assert.Equal(1f, s));
    }

    private static readonly QuantizationOptions PerTensorActivations = new() { Activations = ActivationScales.PerTensor };

    [Fact]
    public void The_rewritten_graph_uses_DynamicQuantizeMatMul_and_stores_int8_weights_with_one_scale_per_column()
    {
        var model = TinyModel();
        var report = OnnxQuantizer.Quantize(model, PerTensorActivations);

        Assert.Equal(2, report.WeightMatMuls);
        Assert.Equal(2, report.Quantized);
        Assert.All(model.Graph.Node, n => Assert.Equal(("DynamicQuantizeMatMul", "com.microsoft"), (n.OpType, n.Domain)));
        Assert.Contains(model.OpsetImport, o => o.Domain == "com.microsoft" && o.Version == 1);
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name is "w1" or "w2");
        var q1 = model.Graph.Initializer.Single(t => t.Name == "w1_int8");
        Assert.Equal((int)TensorProto.Types.DataType.Int8, q1.DataType);
        Assert.Equal([In, Hidden], q1.Dims);
        Assert.Equal([Hidden], model.Graph.Initializer.Single(t => t.Name == "w1_scale").Dims);

        // What the file holds dequantises to within half a step of the original weight.
        var levels = MemoryMarshal.Cast<byte, sbyte>(q1.RawData.Span).ToArray();
        var scales = MemoryMarshal.Cast<byte, float>(model.Graph.Initializer.Single(t => t.Name == "w1_scale").RawData.Span).ToArray();
        for (var i = 0; i < W1.Length; i++)
        {
            Assert.True(MathF.Abs(levels[i] * scales[i % Hidden] - W1[i]) <= scales[i % Hidden] / 2 * 1.0001f, $"weight {i}");
        }
    }

    [Theory]
    [InlineData(ActivationScales.PerRow)]
    [InlineData(ActivationScales.PerTensor)]
    public void The_rewritten_graph_runs_in_ONNX_Runtime_and_stays_close_to_the_fp32_result(ActivationScales activations)
    {
        var input = Weights(3 * In, seed: 3, columnScale: _ => 1f);
        var expected = Run(TinyModel(), input);
        var model = TinyModel();
        OnnxQuantizer.Quantize(model, new QuantizationOptions { Activations = activations });

        var actual = Run(model, input);

        var largest = expected.Max(MathF.Abs);
        var worst = expected.Zip(actual, (e, a) => MathF.Abs(e - a)).Max();
        Assert.True(worst <= 0.03f * largest, $"max abs error {worst} against outputs up to {largest}");
        Assert.NotEqual(expected, actual); // it really ran the integer kernel
    }

    [Fact]
    public void A_MatMul_named_in_KeepFp32_stays_fp32_by_index_or_by_name()
    {
        foreach (var keep in new[] { "#1", "second" })
        {
            var model = TinyModel();
            var report = OnnxQuantizer.Quantize(model, PerTensorActivations with { KeepFp32 = [keep] });

            Assert.Equal(1, report.Quantized);
            Assert.Equal(["DynamicQuantizeMatMul", "MatMul"], model.Graph.Node.Select(n => n.OpType));
            Assert.Contains(model.Graph.Initializer, t => t.Name == "w2");
            Assert.Equal(Out, Run(model, new float[In]).Length);
        }
    }

    [Fact]
    public void Per_row_scales_give_each_row_the_same_result_alone_as_among_rows_of_any_magnitude()
    {
        // Rows of very different magnitudes: with one scale per tensor the large rows would coarsen the small ones.
        var rows = Enumerable.Range(0, 6).Select(r => Weights(In, seed: 10 + r, columnScale: _ => MathF.Pow(10, r - 2))).ToArray();
        var model = TinyModel();
        var report = OnnxQuantizer.Quantize(model, new QuantizationOptions());
        Assert.Equal(2, report.Quantized);
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "MatMulIntegerToFloat" && n.Domain == "com.microsoft"));
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "QuantizeLinear"));
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType is "MatMul" or "DynamicQuantizeMatMul");

        var together = Run(model, [.. rows.SelectMany(r => r)]);
        for (var r = 0; r < rows.Length; r++)
        {
            var alone = Run(model, rows[r]);
            Assert.Equal(alone, together.AsSpan(r * Out, Out).ToArray()); // bit for bit
            var reference = Run(TinyModel(), rows[r]);
            var largest = reference.Max(MathF.Abs);
            Assert.True(alone.Zip(reference, (a, e) => MathF.Abs(a - e)).Max() <= 0.03f * largest, $"row {r}: too far from fp32");
        }
    }

    [Fact]
    public void Shared_inputs_are_quantised_once_and_multiplied_in_one_integer_GEMM()
    {
        // Two MatMuls reading x (as query, key and value read one hidden state) share one quantisation of it and one GEMM.
        var model = TinyModel();
        model.Graph.Node[1].Input[0] = "x";
        model.Graph.Initializer.Add(Tensor("w3", W1, In, Hidden));
        model.Graph.Node.Add(new NodeProto { Name = "third", OpType = "MatMul", Input = { "x", "w3" }, Output = { "z" } });

        var report = OnnxQuantizer.Quantize(model, new QuantizationOptions { KeepFp32 = ["second"] });

        Assert.Equal(2, report.Quantized);
        Assert.Single(model.Graph.Node, n => n.OpType == "QuantizeLinear");
        Assert.Single(model.Graph.Node, n => n.OpType == "MatMulIntegerToFloat");
        Assert.Equal(["h", "z"], model.Graph.Node.Single(n => n.OpType == "Split").Output);
        Assert.Single(model.Graph.Node, n => n.OpType == "MatMul"); // the kept one
    }

    [Theory]
    [InlineData(13)]
    [InlineData(11)] // before 13, Split takes its sizes as an attribute (snowflake-arctic-embed-xs is opset 11)
    public void MatMuls_packed_into_one_GEMM_give_the_same_numbers_as_each_quantised_alone(int opset)
    {
        // The same two products of x, once reading x itself (packed side by side) and once the second reading a copy of x
        // (two GEMMs): per-column weight scales and exact integer products make them equal bit for bit.
        var wb = Weights(In * Hidden, seed: 3, columnScale: c => 0.2f * (c + 1));
        ModelProto Model(bool packed)
        {
            var graph = new GraphProto
            {
                Name = "two",
                Input = { Value("x", "batch", In) },
                Output = { Value("a", "batch", Hidden), Value("b", "batch", Hidden) },
                Initializer = { Tensor("w1", W1, In, Hidden), Tensor("wb", wb, In, Hidden) },
                Node =
                {
                    new NodeProto { Name = "copy", OpType = "Identity", Input = { "x" }, Output = { "x_copy" } },
                    new NodeProto { Name = "first", OpType = "MatMul", Input = { "x", "w1" }, Output = { "a" } },
                    new NodeProto { Name = "other", OpType = "MatMul", Input = { packed ? "x" : "x_copy", "wb" }, Output = { "b" } },
                },
            };
            var model = new ModelProto { IrVersion = 7, ProducerName = "test", Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = opset } } };
            OnnxQuantizer.Quantize(model, new QuantizationOptions());
            return model;
        }

        var packed = Model(packed: true);
        var separate = Model(packed: false);
        Assert.Single(packed.Graph.Node, n => n.OpType == "MatMulIntegerToFloat");
        Assert.Equal(2, separate.Graph.Node.Count(n => n.OpType == "MatMulIntegerToFloat"));
        var input = Weights(7 * In, seed: 4, columnScale: c => MathF.Pow(3, c % 4));
        foreach (var name in new[] { "a", "b" })
        {
            Assert.Equal(Run(separate, input, name), Run(packed, input, name)); // bit for bit
        }
    }

    [Fact]
    public void Fields_the_quantiser_does_not_know_survive_a_round_trip()
    {
        var bytes = TinyModel().ToByteArray();
        // Field 20 of ModelProto (training_info in the ONNX schema) is not in the quantiser's subset of it.
        var extra = new byte[] { 0xA2, 0x01, 0x02, 0x12, 0x00 };
        var parsed = ModelProto.Parser.ParseFrom([.. bytes, .. extra]);
        OnnxQuantizer.Quantize(parsed, new QuantizationOptions());

        var written = parsed.ToByteArray();
        Assert.True(written.AsSpan().IndexOf(extra) >= 0, "the unknown field was dropped");
    }

    private static float[] Run(ModelProto model, float[] input, string output = "y")
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model.ToByteArray(), options);
        var rows = input.Length / In;
        using var x = OrtValue.CreateTensorValueFromMemory(input, [rows, In]);
        using var outputs = session.Run(new RunOptions(), ["x"], [x], [output]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static ModelProto TinyModel()
    {
        var graph = new GraphProto
        {
            Name = "tiny",
            Input = { Value("x", "batch", In) },
            Output = { Value("y", "batch", Out) },
            Initializer = { Tensor("w1", W1, In, Hidden), Tensor("w2", W2, Hidden, Out) },
            Node =
            {
                new NodeProto { Name = "first", OpType = "MatMul", Input = { "x", "w1" }, Output = { "h" } },
                new NodeProto { Name = "second", OpType = "MatMul", Input = { "h", "w2" }, Output = { "y" } },
            },
        };
        return new ModelProto { IrVersion = 7, ProducerName = "test", Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
    }

    private static TensorProto Tensor(string name, float[] values, int rows, int columns) => new()
    {
        Name = name,
        DataType = (int)TensorProto.Types.DataType.Float,
        Dims = { rows, columns },
        RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
    };

    private static ValueInfoProto Value(string name, string batch, int width) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = batch }, new TensorShapeProto.Types.Dimension { DimValue = width } } },
            },
        },
    };

    private static float[] Weights(int count, int seed, Func<int, float> columnScale)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => (float)(random.NextDouble() * 2 - 1) * columnScale(i % Hidden)).ToArray();
    }
}
