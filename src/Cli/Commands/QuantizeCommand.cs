using System.ComponentModel;
using System.Diagnostics;
using AkiDb.Queue.Quantization;
using Spectre.Console;
using Spectre.Console.Cli;

namespace AkiDb.Queue.Cli.Commands;

/// <summary>
/// <c>akidb-queue quantize in.onnx out.onnx</c>: the worker's int8 quantisation as a build step, for images that
/// should ship the int8 file instead of deriving it at first use. Serve the result as an fp32 entry
/// (<c>OnnxPath</c> = the int8 file; Precision stays fp32 because the file is already quantised).
/// </summary>
internal sealed class QuantizeCommand : Command<QuantizeCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<input>")]
        [Description("The fp32 ONNX model (weights inside the file)")]
        public string Input { get; init; } = "";

        [CommandArgument(1, "<output>")]
        [Description("Where the int8 model is written (atomically: a temporary file, then a rename)")]
        public string Output { get; init; } = "";

        [CommandOption("--keep-fp32 <LIST>")]
        [Description("MatMuls left in fp32, comma-separated: node names or #N (the N-th MatMul with a constant weight). Default: none (per-row activation scales keep every kind of text within the targets, docs/quality.md)")]
        public string? KeepFp32 { get; init; }

        public override ValidationResult Validate() =>
            !File.Exists(Input) ? ValidationResult.Error($"{Input} does not exist.")
            : Path.GetFullPath(Input) == Path.GetFullPath(Output) ? ValidationResult.Error("The output must not overwrite the input.")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = settings.KeepFp32 is { } keep
            ? new QuantizationOptions { KeepFp32 = keep.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) }
            : QuantizationOptions.Default;
        var started = Stopwatch.GetTimestamp();
        QuantizationReport report;
        try
        {
            report = OnnxQuantizer.QuantizeFile(settings.Input, settings.Output, options, cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or Google.Protobuf.InvalidProtocolBufferException or IOException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]Cannot quantise {settings.Input}:[/] {e.Message}");
            return 1;
        }

        AnsiConsole.MarkupLineInterpolated(
            $"Quantised {report.Quantized} of {report.WeightMatMuls} weight MatMuls ({report.Description}) in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s: {new FileInfo(settings.Input).Length / 1e6:F1} MB -> {settings.Output} {new FileInfo(settings.Output).Length / 1e6:F1} MB");
        return report.Quantized > 0 ? 0 : 2;
    }
}
