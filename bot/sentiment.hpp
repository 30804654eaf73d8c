#pragma once
/// How a visitor's message feels, from −5 (furious) to +5 (delighted): a
/// lexicon-based scorer in the manner of VADER (bot/lexicon/README.md).
/// Each word of the lexicon carries a valence; a booster before it ("very")
/// strengthens it, a negation within three words ("not", "never", "…n't")
/// turns it over, SHOUTING strengthens it, words after "but" count more than
/// those before, and exclamation marks add weight. The sum s is normalised
/// as s / √(s² + 15) — VADER's "compound", from −1 to 1 — and scaled by 5.
/// English only; the rules' thresholds (docs/assistant.md) use this scale.

#include <string>
#include <string_view>
#include <unordered_map>

namespace mqchat::bot {

class sentiment_scorer {
public:
    /// From lines "token<TAB>valence" (valence −4 … +4); tokens may be two words.
    explicit sentiment_scorer(std::string_view lexicon_tsv);
    /// The shipped VADER lexicon (compiled in).
    static const sentiment_scorer& english();

    double score(std::string_view text) const;
    std::size_t size() const { return valence_.size(); }

private:
    std::unordered_map<std::string, double> valence_;
};

} // namespace mqchat::bot
