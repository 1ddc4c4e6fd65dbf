using System.Runtime.InteropServices;
using AkiDb.Queue.Quantization.Onnx;
using Google.Protobuf;

namespace AkiDb.Queue.Quantization;

/// <summary>
/// Builds <c>Y = X · W</c> with W int8 (one scale per output column) and X quantised per row at run time:
/// <code>
///   s   = max(ReduceMax(|X|, last axis), tiny) / 127          [..., 1]   one scale per row (token)
///   Xq  = QuantizeLinear(X as [M, K], s as [M], 128, axis 0)  uint8      symmetric around the zero point 128
///   Y   = MatMulIntegerToFloat(Xq, Wq, 1, w_scale, 128) * s              integer GEMM, then each row's own scale
/// </code>
/// Why a subgraph: ONNX Runtime's integer MatMul kernels (<c>DynamicQuantizeMatMul</c>, <c>MatMulIntegerToFloat</c>,
/// <c>QAttention</c>) take one activation scale per call, so a row's result would depend on every other row of the batch
/// and on the padding; and <c>MatMulNBits</c> (int8 weights with per-block int8 activations) measured batch-dependent
/// too (its kernel changes with the row count) and slower. <c>QuantizeLinear</c> with a per-axis scale over the
/// flattened rows gives each row its own scale in one pass; the int8 x int8 products are exact integers, so the only
/// rounding that depends on the row is the row's own. Measured in docs/quality.md: the same vector alone and in any
/// batch (difference 0), at about 95% of <c>DynamicQuantizeMatMul</c>'s speed.
/// <para>
/// Several MatMuls reading the same activation (query, key and value) share one quantisation of it and one integer GEMM
/// over their weights side by side, split after the row scale.
/// </para>
/// </summary>
internal sealed class PerRowQuantizedMatMul
{
    private const string Prefix = "akidb_rowq";
    private readonly GraphProto _graph;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly bool _axesAsInput;
    private readonly bool _splitAsInput;
    private readonly Dictionary<string, (string Quantized, string Scale)> _quantized = new(StringComparer.Ordinal);
    private int _next;

    /// <param name="defaultOpset">The model's ONNX opset: from 18 on, ReduceMax takes its axes as an input; from 13 on, Split its sizes.</param>
    public PerRowQuantizedMatMul(GraphProto graph, Dictionary<string, TensorProto> initializers, long defaultOpset)
    {
        _graph = graph;
        _initializers = initializers;
        _axesAsInput = defaultOpset >= 18;
        _splitAsInput = defaultOpset >= 13;
    }

    /// <summary>
    /// The nodes that replace <paramref name="matMuls"/> (one, or several reading the same activation), given their
    /// weights already quantised side by side (<paramref name="widths"/>: each one's output columns, in order).
    /// </summary>
    public List<NodeProto> Replace(IReadOnlyList<NodeProto> matMuls, string weightInt8, string weightScale, int k, IReadOnlyList<int> widths)
    {
        var nodes = new List<NodeProto>();
        var x = matMuls[0].Input[0];
        if (!_quantized.TryGetValue(x, out var q))
        {
            q = QuantizeRows(x, k, nodes);
            _quantized[x] = q;
        }

        var id = $"{Prefix}{_next++}";
        nodes.Add(Node("MatMulIntegerToFloat", OnnxQuantizer.MicrosoftDomain, [q.Quantized, weightInt8, Constant("one", 1f), weightScale, ZeroPoint()], [$"{id}_unscaled"]));
        if (matMuls.Count == 1)
        {
            nodes.Add(Node("Mul", "", [$"{id}_unscaled", q.Scale], [.. matMuls[0].Output], $"{id}_row_scale"));
            return nodes;
        }

        nodes.Add(Node("Mul", "", [$"{id}_unscaled", q.Scale], [$"{id}_packed"], $"{id}_row_scale"));
        long[] sizes = [.. widths.Select(w => (long)w)];
        var split = Node("Split", "", _splitAsInput ? [$"{id}_packed", Int64s($"split_{string.Join('_', widths)}", sizes)] : [$"{id}_packed"], [.. matMuls.Select(m => m.Output[0])], $"{id}_split");
        split.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
        if (!_splitAsInput)
        {
            split.Attribute.Add(new AttributeProto { Name = "split", Type = AttributeProto.Types.AttributeType.Ints, Ints = { sizes } });
        }
        nodes.Add(split);
        return nodes;
    }

    private (string Quantized, string Scale) QuantizeRows(string x, int k, List<NodeProto> nodes)
    {
        var p = $"{Prefix}{_next++}_";
        nodes.Add(Node("Abs", "", [x], [p + "abs"]));
        var reduce = Node("ReduceMax", "", _axesAsInput ? [p + "abs", Int64s("last_axis", [-1])] : [p + "abs"], [p + "max"]);
        reduce.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        if (!_axesAsInput)
        {
            reduce.Attribute.Add(new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints, Ints = { -1 } });
        }

        nodes.Add(reduce);
        // An all-zero row: any positive scale quantises it to the zero point, and 0 x scale gives back exactly 0.
        nodes.Add(Node("Max", "", [p + "max", Constant("tiny", 1e-30f)], [p + "max_pos"]));
        nodes.Add(Node("Mul", "", [p + "max_pos", Constant("inv127", 1f / SymmetricInt8.MaxLevel)], [p + "scale"]));
        nodes.Add(Node("Reshape", "", [p + "scale", Int64s("flat", [-1])], [p + "scale_rows"]));
        // QuantizeLinear's per-axis zero point has the scale's shape: 128 for every row (a tensor of the row count's length).
        nodes.Add(Node("Shape", "", [p + "scale_rows"], [p + "row_count"]));
        var zeros = Node("ConstantOfShape", "", [p + "row_count"], [p + "zero_points"]);
        zeros.Attribute.Add(new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Uint8, Dims = { 1 }, RawData = ByteString.CopyFrom([128]) },
        });
        nodes.Add(zeros);
        nodes.Add(Node("Reshape", "", [x, Int64s($"rows_of_{k}", [-1, k])], [p + "rows"]));
        var quantize = Node("QuantizeLinear", OnnxQuantizer.MicrosoftDomain, [p + "rows", p + "scale_rows", p + "zero_points"], [p + "rows_q"]);
        quantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        nodes.Add(quantize);
        nodes.Add(Node("Shape", "", [x], [p + "shape"]));
        nodes.Add(Node("Reshape", "", [p + "rows_q", p + "shape"], [p + "q"]));
        return (p + "q", p + "scale");
    }

    // Named after the subgraph (akidb_rowq...), so a profile tells its nodes from the model's own.
    private static NodeProto Node(string op, string domain, string[] inputs, string[] outputs, string? name = null) => new()
    {
        Name = name ?? $"{outputs[0]}_{op}",
        OpType = op,
        Domain = domain,
        Input = { inputs },
        Output = { outputs },
    };

    private string ZeroPoint() => Add($"{Prefix}_u8_128", () => new TensorProto
    {
        DataType = (int)TensorProto.Types.DataType.Uint8,
        RawData = ByteString.CopyFrom([128]),
    });

    private string Constant(string name, float value) => Add($"{Prefix}_{name}", () => new TensorProto
    {
        DataType = (int)TensorProto.Types.DataType.Float,
        RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)),
    });

    private string Int64s(string name, long[] values) => Add($"{Prefix}_{name}", () => new TensorProto
    {
        DataType = (int)TensorProto.Types.DataType.Int64,
        Dims = { values.Length },
        RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
    });

    private string Add(string name, Func<TensorProto> make)
    {
        if (!_initializers.ContainsKey(name))
        {
            var tensor = make();
            tensor.Name = name;
            _initializers[name] = tensor;
            _graph.Initializer.Add(tensor);
        }

        return name;
    }
}
