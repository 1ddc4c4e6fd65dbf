using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AkiDb.Queue.Bench.Harness;
using AkiDb.Queue.ModelText.Models;
using AkiDb.Queue.Worker.Inference;
using Microsoft.ML.OnnxRuntime;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// Where a model's time goes, per kind of operator: ONNX Runtime's own profiler (session option <c>enable_profiling</c>,
/// one event per node run with its kernel time) over the same batches the in-process limit runs, in a session built as the
/// native backend builds its narrow one (all optimisations, the same threads, spinning off). The per-row quantisation's
/// helper nodes (named <c>akidb_rowq*</c> by <c>PerRowQuantizedMatMul</c>) are counted apart from the integer GEMMs.
/// What the kernels do not account for is the executor's own time between nodes (allocation, scheduling, thread-pool hand-offs).
/// </summary>
public static class Int8Profile
{
    public static ProfileSplit Measure(string label, ModelDefinition model, IReadOnlyList<InferenceBatch> batches, int threads, bool spinning, int passes = 2)
    {
        var prefix = Path.Combine(Paths.Artifacts, "profile", $"{label}-{Environment.ProcessId}");
        Directory.CreateDirectory(Path.GetDirectoryName(prefix)!);
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        var spin = spinning ? "1" : "0";
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
        using var session = new InferenceSession(model.OnnxPath, options);
        var types = session.InputMetadata.ContainsKey("token_type_ids");
        foreach (var batch in batches)
        {
            Run(session, batch, types); // warm-up, not profiled: arenas grow to the largest batch
        }

        // A second session on the same file with the profiler on: the first one's warm-up is not in its events.
        // The prefix first: setting EnableProfiling starts the profiler with the prefix set at that moment.
        options.ProfileOutputPathPrefix = prefix;
        options.EnableProfiling = true;
        using var profiled = new InferenceSession(model.OnnxPath, options);
        foreach (var batch in batches.Take(1))
        {
            Run(profiled, batch, types);
        }

        var clock = Stopwatch.StartNew();
        for (var p = 0; p < passes; p++)
        {
            foreach (var batch in batches)
            {
                Run(profiled, batch, types);
            }
        }

        var wall = clock.Elapsed.TotalMicroseconds;
        var file = profiled.EndProfiling();
        try
        {
            return Parse(label, file, batches.Count, passes, wall);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static void Run(InferenceSession session, InferenceBatch batch, bool types)
    {
        long[] shape = [batch.Rows, batch.SequenceLength];
        var mask = new long[batch.InputIds.Length];
        for (var row = 0; row < batch.Rows; row++)
        {
            mask.AsSpan(row * batch.SequenceLength, batch.Lengths[row]).Fill(1);
        }

        var inputs = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(mask, shape),
        };
        if (types)
        {
            inputs["token_type_ids"] = OrtValue.CreateTensorValueFromMemory(new long[batch.InputIds.Length], shape);
        }

        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, session.OutputNames);
        foreach (var value in inputs.Values)
        {
            value.Dispose();
        }
    }

    /// <summary>Kernel time per operator kind (the helper nodes of the per-row quantisation as their own kinds), and run time.</summary>
    private static ProfileSplit Parse(string label, string file, int batches, int passes, double wallMicroseconds)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(file));
        var ops = new Dictionary<string, (HashSet<string> Nodes, double Us, long Calls)>(StringComparer.Ordinal);
        var runs = new List<double>();
        foreach (var e in json.RootElement.EnumerateArray())
        {
            var cat = e.GetProperty("cat").GetString();
            var name = e.GetProperty("name").GetString() ?? string.Empty;
            var dur = e.TryGetProperty("dur", out var d) ? d.GetDouble() : 0;
            if (cat == "Session" && name == "model_run")
            {
                runs.Add(dur);
            }
            else if (cat == "Node" && name.EndsWith("_kernel_time", StringComparison.Ordinal) && e.TryGetProperty("args", out var args)
                     && args.TryGetProperty("op_name", out var opName))
            {
                var node = name[..^"_kernel_time".Length];
                var op = opName.GetString() ?? "?";
                var kind = !node.StartsWith("akidb_rowq", StringComparison.Ordinal) || op == "MatMulIntegerToFloat" ? op
                    : node.EndsWith("_row_scale", StringComparison.Ordinal) ? "Mul (row scale on the integer GEMM's result)"
                    : node.EndsWith("_split", StringComparison.Ordinal) ? "Split (packed query/key/value GEMM)"
                    : $"{op} (row quantisation)";
                ref var entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(ops, kind, out var exists);
                if (!exists)
                {
                    entry = (new HashSet<string>(StringComparer.Ordinal), 0, 0);
                }

                entry.Nodes.Add(node);
                entry.Us += dur;
                entry.Calls++;
            }
        }

        // The first profiled run (one batch, before the clock) is left out of the run total.
        var measured = runs.Skip(1).Sum();
        var scale = runs.Count > 1 ? measured / runs.Sum() : 1;
        var rows = ops.Select(o => new OpTime(o.Key, o.Value.Nodes.Count, o.Value.Us * scale / passes, o.Value.Calls))
            .OrderByDescending(o => o.Microseconds).ToList();
        return new ProfileSplit(label, batches, measured / passes, wallMicroseconds / passes, rows);
    }

    public static void Render(StringBuilder s, IReadOnlyList<ProfileSplit> splits, string corpus)
    {
        string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);
        s.AppendLine();
        s.AppendLine("## Where the time goes (ONNX Runtime's profiler)");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"One pass over the {corpus} corpus's length-sorted batches of 32 (mean of the profiled passes), in a session built as the native backend's narrow one,");
        s.AppendLine("with ONNX Runtime's profiler on (`enable_profiling`: each node's kernel time; the profiler itself adds a little per node).");
        s.AppendLine("\"executor\" is model-run time no kernel accounts for: allocation, scheduling and thread-pool hand-offs between nodes.");
        s.AppendLine("Rows marked \"row quantisation\" are the helper nodes of the per-row activation quantisation (Int8 only).");
        s.AppendLine();
        var kinds = splits.SelectMany(p => p.Ops.Select(o => o.Op)).Distinct()
            .OrderByDescending(k => splits.Max(p => p.Ops.FirstOrDefault(o => o.Op == k)?.Microseconds ?? 0)).ToList();
        s.AppendLine("| operator | " + string.Join(" | ", splits.Select(p => $"{p.Model} ms per pass (nodes) | {p.Model} share")) + " |");
        s.AppendLine("|---|" + string.Concat(splits.Select(_ => "---|---|")));
        foreach (var kind in kinds)
        {
            s.Append(CultureInfo.InvariantCulture, $"| {kind} |");
            foreach (var p in splits)
            {
                var o = p.Ops.FirstOrDefault(x => x.Op == kind);
                s.Append(o is null ? " - | - |" : $" {F(o.Microseconds / 1000)} ({o.Nodes}) | {F(o.Microseconds / p.RunMicroseconds * 100)} % |");
            }

            s.AppendLine();
        }

        s.Append("| executor (run time outside kernels) |");
        foreach (var p in splits)
        {
            s.Append(CultureInfo.InvariantCulture, $" {F(p.ExecutorMicroseconds / 1000)} | {F(p.ExecutorMicroseconds / p.RunMicroseconds * 100)} % |");
        }

        s.AppendLine();
        s.Append("| **model run, total** |");
        foreach (var p in splits)
        {
            s.Append(CultureInfo.InvariantCulture, $" **{F(p.RunMicroseconds / 1000)}** ({p.Ops.Sum(o => o.Nodes)} nodes, {p.Batches} runs) | 100 % |");
        }

        s.AppendLine();
        if (splits is [var fp32, var int8])
        {
            // Amdahl: what int8 speeds up (the matrix products), what it adds (the per-row quantisation) and what it leaves as it was.
            double Sum(ProfileSplit p, Func<string, bool> which) => p.Ops.Where(o => which(o.Op)).Sum(o => o.Microseconds) / 1000;
            bool Product(string op) => op is "MatMul" or "MatMulIntegerToFloat";
            bool Quantisation(string op) => op.Contains("(row", StringComparison.Ordinal) || op.StartsWith("Split (packed", StringComparison.Ordinal);
            var products32 = Sum(fp32, Product);
            var products8 = Sum(int8, Product);
            var quantisation = Sum(int8, Quantisation);
            var rest32 = fp32.RunMicroseconds / 1000 - products32;
            var rest8 = int8.RunMicroseconds / 1000 - products8 - quantisation;
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"Amdahl, from these two profiles: the matrix products (weight GEMMs and the attention's probabilities x values) take {F(products32)} ms in fp32 and {F(products8)} ms in int8 ({F(products32 / products8, "F2")}x faster);");
            s.AppendLine(CultureInfo.InvariantCulture, $"the per-row quantisation int8 adds (its helper nodes, the row-scale Mul on each GEMM's result, the query/key/value split) takes {F(quantisation)} ms ({F(quantisation / (int8.RunMicroseconds / 1000) * 100)} % of int8's run);");
            s.AppendLine(CultureInfo.InvariantCulture, $"everything else (LayerNorm, GELU, Adds, Transposes, softmax, the scaled QK product, Gather, the executor) takes {F(rest32)} ms in fp32 and {F(rest8)} ms in int8, which int8 does not speed up.");
            s.AppendLine(CultureInfo.InvariantCulture, $"Profiled ratio fp32 / int8: {F(fp32.RunMicroseconds / int8.RunMicroseconds, "F2")}x; with the quantisation free it would be {F(fp32.RunMicroseconds / 1000 / (products8 + rest8), "F2")}x, and with the products infinitely fast {F(fp32.RunMicroseconds / 1000 / (quantisation + rest8), "F2")}x.");
            s.AppendLine("The two profiles ran one after the other on a shared machine: their ratio moves with the load, the split within each less so.");
        }
    }
}

public sealed record OpTime(string Op, int Nodes, double Microseconds, long Calls);

/// <summary>One model's profiled pass: kernel time per operator kind, model-run time, and the pass's wall time (profiler included).</summary>
public sealed record ProfileSplit(string Model, int Batches, double RunMicroseconds, double WallMicroseconds, IReadOnlyList<OpTime> Ops)
{
    public double ExecutorMicroseconds => RunMicroseconds - Ops.Sum(o => o.Microseconds);

    public string Describe() =>
        FormattableString.Invariant($"{Model}: {RunMicroseconds / 1000:F1} ms per pass; ") +
        string.Join(", ", Ops.Take(12).Select(o => FormattableString.Invariant($"{o.Op} {o.Microseconds / RunMicroseconds * 100:F1} %"))) +
        FormattableString.Invariant($", executor {ExecutorMicroseconds / RunMicroseconds * 100:F1} %");
}
