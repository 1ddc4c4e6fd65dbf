using System.Text;

namespace AkiDb.Queue.Cli.Operations;

/// <summary>A value from a message or header made fit to print: control characters escaped, length bounded.</summary>
internal static class SafeText
{
    public static string Of(string? value, int maxLength = 80)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "-";
        }

        var text = new StringBuilder();
        foreach (var c in value.Length > maxLength ? value[..maxLength] : value)
        {
            text.Append(char.IsControl(c) || c is '\u2028' or '\u2029' or '\u200B' or '\uFEFF' ? $"\\u{(int)c:x4}" : c);
        }

        return value.Length > maxLength ? text.Append("...").ToString() : text.ToString();
    }
}
