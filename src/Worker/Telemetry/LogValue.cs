using System.Globalization;
using System.Text;

namespace AkiDb.Queue.Worker.Telemetry;

/// <summary>
/// Makes a value that came from a message (a request id, a model name, a header) safe to put in a log line: control
/// and invisible formatting characters are written as escapes and the length is capped. A producer must not be able
/// to clear an operator's terminal (ESC), forge a second log line (CR, LF), hide text (zero-width, bidi overrides) or
/// fill the log with one field. Hand-written because the encoders in System.Text.Encodings.Web escape for HTML or
/// JavaScript (every non-ASCII letter, quotes, &lt;), which would make ordinary ids in other scripts unreadable.
/// </summary>
public static class LogValue
{
    /// <summary>Characters of the original value kept before the rest is cut off.</summary>
    public const int DefaultMaxLength = 128;

    /// <summary>The value, escaped and capped; "(none)" for null.</summary>
    public static string Of(string? value, int maxLength = DefaultMaxLength)
    {
        if (value is null)
        {
            return "(none)";
        }

        var kept = Math.Min(value.Length, Math.Max(0, maxLength));
        if (kept == value.Length && !NeedsEscaping(value))
        {
            return value;
        }

        var builder = new StringBuilder(kept + 16);
        for (var i = 0; i < kept; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < kept && char.IsLowSurrogate(value[i + 1]))
            {
                // A whole pair (an emoji, a rare CJK character) stays as it is.
                builder.Append(c).Append(value[++i]);
            }
            else if (IsUnsafe(c))
            {
                Escape(builder, c);
            }
            else
            {
                builder.Append(c);
            }
        }

        if (kept < value.Length)
        {
            builder.Append(CultureInfo.InvariantCulture, $"...(+{value.Length - kept} chars)");
        }

        return builder.ToString();
    }

    /// <summary>
    /// The value cut to <paramref name="maxLength"/> characters, nothing escaped: for the text of an EmbedFailed, whose
    /// JSON encoding escapes control characters by itself. Logging that text escapes it once, with <see cref="Of"/>.
    /// </summary>
    public static string Cap(string? value, int maxLength = 64)
    {
        if (value is null || value.Length <= maxLength)
        {
            return value ?? "";
        }

        var kept = char.IsHighSurrogate(value[maxLength - 1]) ? maxLength - 1 : maxLength;
        return string.Concat(value.AsSpan(0, kept), $"...(+{value.Length - kept} chars)");
    }

    private static bool NeedsEscaping(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (IsUnsafe(c))
            {
                return true;
            }
        }

        return false;
    }

    // The backslash too, so that an escape in the log always means an escaped character, never a producer's text.
    private static bool IsUnsafe(char c) =>
        c == '\\' || char.IsControl(c) || char.IsSurrogate(c) || CharUnicodeInfo.GetUnicodeCategory(c) is
            UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    private static void Escape(StringBuilder builder, char c)
    {
        _ = c switch
        {
            '\\' => builder.Append(@"\\"),
            '\n' => builder.Append(@"\n"),
            '\r' => builder.Append(@"\r"),
            '\t' => builder.Append(@"\t"),
            _ => builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}"),
        };
    }
}
