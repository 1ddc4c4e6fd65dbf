using AkiDb.Queue.Quantization.Onnx;
using AkiDb.Queue.Worker.Inference;

namespace AkiDb.Queue.Bench.Inference;

/// <summary>
/// Multiply-adds a BERT-style encoder performs on a padded batch, from its ONNX file: every weight MatMul costs K x N per
/// token (the projections and the FFN, summed over layers from the weights' shapes), and each layer's attention
/// 2 x L x hidden per token (QK^T and the weighted sum of V over the padded length L). Embedding lookups, LayerNorm,
/// GELU and softmax are not multiply-adds of a GEMM and are left out: the count is the arithmetic the GEMMs must do.
/// </summary>
public sealed record ModelArithmetic(long LinearMacsPerToken, int Layers, int Hidden)
{
    public static ModelArithmetic Of(string onnxPath)
    {
        ModelProto model;
        using (var file = File.OpenRead(onnxPath))
        {
            model = ModelProto.Parser.ParseFrom(file);
        }

        var shapes = model.Graph.Initializer.Where(t => t.Dims.Count == 2).ToDictionary(t => t.Name, t => (K: t.Dims[0], N: t.Dims[1]));
        var weights = model.Graph.Node.Where(n => n.OpType == "MatMul" && n.Input.Count == 2 && shapes.ContainsKey(n.Input[1]))
            .Select(n => shapes[n.Input[1]]).ToList();
        var layers = model.Graph.Node.Count(n => n.OpType == "Softmax");
        var hidden = (int)weights.GroupBy(w => w.K).MaxBy(g => g.Count())!.Key;
        return new ModelArithmetic(weights.Sum(w => w.K * w.N), layers, hidden);
    }

    /// <summary>Multiply-adds of one padded batch: rows x L tokens through every layer.</summary>
    public double Macs(InferenceBatch batch)
    {
        double tokens = (double)batch.Rows * batch.SequenceLength;
        return tokens * LinearMacsPerToken + tokens * Layers * 2.0 * batch.SequenceLength * Hidden;
    }

    /// <summary>The share of <see cref="Macs"/> in the weight MatMuls (what int8 quantises).</summary>
    public double LinearShare(InferenceBatch batch) => (double)batch.Rows * batch.SequenceLength * LinearMacsPerToken / Macs(batch);
}
