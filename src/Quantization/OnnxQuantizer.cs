using System.Runtime.InteropServices;
using AkiDb.Queue.Quantization.Onnx;
using Google.Protobuf;

namespace AkiDb.Queue.Quantization;

/// <summary>
/// int8 quantisation of an ONNX model's MatMul weights: each <c>MatMul(A, W)</c> with a constant fp32 <c>[K, N]</c>
/// weight gets W in symmetric int8 with one scale per output column, and A quantised at run time, by default with one
/// scale per row (<see cref="PerRowQuantizedMatMul"/>: a text's vector does not depend on its batch), or with ONNX
/// Runtime's <c>DynamicQuantizeMatMul</c> (one scale per tensor). <see cref="QuantizeFile"/> first has ONNX Runtime fuse
/// the graph (<see cref="TransformerFusion"/>), so the int8 model keeps the fused LayerNorm, GELU and attention product.
/// <para>
/// Why this is written here: ONNX Runtime's quantisation tool (<c>onnxruntime.quantization</c>) is Python and needs
/// the onnxruntime pip package, which cannot be installed on the machines this project builds on, and there is no
/// maintained .NET ONNX quantiser; nor does either offer per-row activation scales. The algorithm is small; the file
/// format is handled by Google.Protobuf.
/// </para>
/// <para>
/// The output contains standard ONNX operators and ONNX Runtime's CPU contrib operators (<c>MatMulIntegerToFloat</c>,
/// <c>QuantizeLinear</c>, the fused ones); nothing depends on the producing machine's instruction set (the fusion stops
/// at the hardware-independent level: ORT picks its integer kernels, AVX2, AVX-512 VNNI or NEON, when it loads the file).
/// </para>
/// </summary>
public static class OnnxQuantizer
{
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>Quantises <paramref name="inputPath"/> into <paramref name="outputPath"/>, written under a temporary name and renamed.</summary>
    /// <param name="cancellationToken">Checked between steps and MatMuls (Ctrl+C on <c>akidb-queue quantize</c>); a cancelled run leaves no file behind.</param>
    public static QuantizationReport QuantizeFile(string inputPath, string outputPath, QuantizationOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= QuantizationOptions.Default;
        var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(outputPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var fused = temp + ".fused.onnx";
        try
        {
            string? notFused = null;
            if (options.FuseFirst && !TransformerFusion.TryOptimize(inputPath, fused, out notFused))
            {
                // Still per-row and batch-invariant, only without ONNX Runtime's fusions (slower); the description says so.
                options = options with { FuseFirst = false };
            }

            cancellationToken.ThrowIfCancellationRequested();

            ModelProto model;
            using (var input = File.OpenRead(options.FuseFirst ? fused : inputPath))
            {
                model = ModelProto.Parser.ParseFrom(input);
            }

            var report = Quantize(model, options, cancellationToken) with { NotFused = notFused };
            cancellationToken.ThrowIfCancellationRequested();
            using (var output = File.Create(temp))
            {
                model.WriteTo(output);
            }

            cancellationToken.ThrowIfCancellationRequested();
            File.Move(temp, outputPath, overwrite: true);
            return report;
        }
        finally
        {
            File.Delete(temp);
            File.Delete(fused);
        }
    }

    /// <summary>Rewrites <paramref name="model"/> in place.</summary>
    internal static QuantizationReport Quantize(ModelProto model, QuantizationOptions options, CancellationToken cancellationToken = default)
    {
        var graph = model.Graph ?? throw new InvalidDataException("The ONNX file has no graph.");
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        // A weight that is also a graph input can be overridden at run time, so it is not a constant.
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var keep = options.KeepFp32.ToHashSet(StringComparer.Ordinal);

        var defaultOpset = model.OpsetImport.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx").Select(o => o.Version).DefaultIfEmpty(13).Max();
        var perRow = options.Activations == ActivationScales.PerRow ? new PerRowQuantizedMatMul(graph, initializers, defaultOpset) : null;
        var replacements = new Dictionary<int, List<NodeProto>>();
        var candidates = 0;
        var kept = new List<string>();
        var chosen = new List<(int Node, TensorProto Weight)>();
        for (var n = 0; n < graph.Node.Count; n++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var node = graph.Node[n];
            if (node.OpType != "MatMul" || node.Domain.Length != 0 || node.Input.Count != 2
                || !initializers.TryGetValue(node.Input[1], out var weight) || graphInputs.Contains(weight.Name)
                || weight.DataType != (int)TensorProto.Types.DataType.Float || weight.Dims.Count != 2)
            {
                continue;
            }

            var index = candidates++;
            if (keep.Contains(node.Name) || keep.Contains($"#{index}"))
            {
                kept.Add($"#{index} {node.Name}");
                continue;
            }

            chosen.Add((n, weight));
        }

        // With per-row activations and per-column weights, the MatMuls reading one activation (query, key and value)
        // become one integer GEMM over their weights side by side, then a Split: each column keeps its own scale and the
        // integer products are exact, so the results are the same numbers, from one GEMM (fuller tiles) and one row-scale
        // Mul instead of three of each.
        var groups = perRow is not null && !options.PerTensor
            ? chosen.GroupBy(c => graph.Node[c.Node].Input[0], StringComparer.Ordinal).Select(g => g.ToList()).ToList()
            : chosen.Select(c => new List<(int Node, TensorProto Weight)> { c }).ToList();
        var quantized = 0;
        foreach (var group in groups)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var first = graph.Node[group[0].Node];
            var rows = checked((int)group[0].Weight.Dims[0]);
            var widths = group.Select(g => checked((int)g.Weight.Dims[1])).ToArray();
            var columns = widths.Sum();
            var values = group.Count == 1 ? ReadFloats(group[0].Weight) : SideBySide(group.Select(g => ReadFloats(g.Weight)).ToArray(), rows, widths);
            float[] scales;
            sbyte[] levels;
            if (options.PerTensor)
            {
                var scale = values.Max(MathF.Abs) is var max and > 0 ? max / SymmetricInt8.MaxLevel : 1f;
                levels = values.Select(v => (sbyte)Math.Clamp(MathF.Round(v / scale, MidpointRounding.ToEven), -SymmetricInt8.MaxLevel, SymmetricInt8.MaxLevel)).ToArray();
                scales = [scale];
            }
            else
            {
                (levels, scales) = SymmetricInt8.QuantizePerColumn(values, rows, columns);
            }

            var weightName = group[0].Weight.Name + (group.Count > 1 ? $"_and_{group.Count - 1}_more" : string.Empty);
            var quantName = UniqueName(initializers, weightName + "_int8");
            var scaleName = UniqueName(initializers, weightName + "_scale");
            var quantTensor = new TensorProto
            {
                Name = quantName,
                DataType = (int)TensorProto.Types.DataType.Int8,
                Dims = { rows, columns },
                RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(levels.AsSpan())),
            };
            var scaleTensor = new TensorProto
            {
                Name = scaleName,
                DataType = (int)TensorProto.Types.DataType.Float,
                RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(scales.AsSpan())),
            };
            if (!options.PerTensor)
            {
                scaleTensor.Dims.Add(columns);
            }

            initializers[quantName] = quantTensor;
            initializers[scaleName] = scaleTensor;
            graph.Initializer.Add(quantTensor);
            graph.Initializer.Add(scaleTensor);
            if (perRow is not null)
            {
                // The GEMM goes where the group's first MatMul was (its input is ready there); the others' places empty.
                replacements[group[0].Node] = perRow.Replace(group.Select(g => graph.Node[g.Node]).ToList(), quantName, scaleName, rows, widths);
                foreach (var other in group.Skip(1))
                {
                    replacements[other.Node] = [];
                }
            }
            else
            {
                graph.Node[group[0].Node] = new NodeProto
                {
                    Name = string.IsNullOrEmpty(first.Name) ? $"DynamicQuantizeMatMul_{quantized}" : first.Name + "_quant",
                    OpType = "DynamicQuantizeMatMul",
                    Domain = MicrosoftDomain,
                    Input = { first.Input[0], quantName, scaleName },
                    Output = { first.Output },
                };
            }

            quantized += group.Count;
        }

        if (replacements.Count > 0)
        {
            // The subgraph goes where the MatMul was: its input is computed before, its output read after (topological order kept).
            var nodes = graph.Node.SelectMany((node, i) => replacements.TryGetValue(i, out var with) ? with : [node]).ToList();
            graph.Node.Clear();
            graph.Node.Add(nodes);
        }

        RemoveUnusedInitializers(graph);
        if (quantized > 0 && !model.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }

        var description = options.Describe();
        model.MetadataProps.Add(new StringStringEntryProto { Key = "akidb.quantization", Value = description });
        return new QuantizationReport(candidates, quantized, kept, description);
    }

    /// <summary>Row-major <c>[rows, widths...]</c> matrices as one <c>[rows, sum of widths]</c>, each one's columns after the previous one's.</summary>
    private static float[] SideBySide(float[][] matrices, int rows, int[] widths)
    {
        var columns = widths.Sum();
        var result = new float[rows * columns];
        for (var r = 0; r < rows; r++)
        {
            var at = r * columns;
            for (var m = 0; m < matrices.Length; m++)
            {
                matrices[m].AsSpan(r * widths[m], widths[m]).CopyTo(result.AsSpan(at));
                at += widths[m];
            }
        }

        return result;
    }

    private static float[] ReadFloats(TensorProto tensor)
    {
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            throw new NotSupportedException($"Weight '{tensor.Name}' is stored in an external data file; save the model with its weights inside the .onnx file.");
        }

        var count = checked((int)(tensor.Dims[0] * tensor.Dims[1]));
        if (!tensor.RawData.IsEmpty)
        {
            if (tensor.RawData.Length != count * sizeof(float))
            {
                throw new InvalidDataException($"Weight '{tensor.Name}' has {tensor.RawData.Length} bytes of data; its shape needs {count * sizeof(float)}.");
            }

            // raw_data is little-endian by the ONNX specification; every platform ONNX Runtime runs on is too.
            return MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
        }

        if (tensor.FloatData.Count != count)
        {
            throw new InvalidDataException($"Weight '{tensor.Name}' has {tensor.FloatData.Count} values; its shape needs {count}.");
        }

        return [.. tensor.FloatData];
    }

    private static string UniqueName(Dictionary<string, TensorProto> taken, string wanted)
    {
        var name = wanted;
        for (var i = 1; taken.ContainsKey(name); i++)
        {
            name = $"{wanted}_{i}";
        }

        return name;
    }

    private static void RemoveUnusedInitializers(GraphProto graph)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        CollectInputs(graph, used);
        foreach (var output in graph.Output)
        {
            used.Add(output.Name);
        }

        for (var i = graph.Initializer.Count - 1; i >= 0; i--)
        {
            if (!used.Contains(graph.Initializer[i].Name))
            {
                graph.Initializer.RemoveAt(i);
            }
        }
    }

    // Subgraphs (If, Loop, Scan) may read an outer initializer by name.
    private static void CollectInputs(GraphProto graph, HashSet<string> used)
    {
        foreach (var node in graph.Node)
        {
            used.UnionWith(node.Input);
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is { } sub)
                {
                    CollectInputs(sub, used);
                }

                foreach (var subgraph in attribute.Graphs)
                {
                    CollectInputs(subgraph, used);
                }
            }
        }
    }
}
