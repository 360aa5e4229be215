//! Polite refusals, in the language the user wrote in (English or Chinese).

use super::Category;
use super::normalize::is_cjk;

/// The language a refusal is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English (the default for any text that is not mostly Chinese).
    En,
    /// Chinese.
    Zh,
}

/// The language of `text`: Chinese when Han characters are at least a third of its letters.
pub fn detect_lang(text: &str) -> Lang {
    let han = text.chars().filter(|c| is_cjk(*c)).count();
    let latin = text.chars().filter(char::is_ascii_alphabetic).count();
    if han > 0 && han * 3 >= latin {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// The refusal for `category` in `lang`.
pub fn refusal(category: Category, lang: Lang) -> &'static str {
    match (category, lang) {
        (Category::Abuse, Lang::En) => {
            "I want to help, but I can't continue with messages that insult or threaten people. \
             If something has gone wrong with your order, tell me what happened and I'll do my best to sort it out."
        }
        (Category::Abuse, Lang::Zh) => {
            "我很想帮您，但无法回应侮辱或威胁他人的内容。如果您的订单出了问题，请告诉我具体情况，我会尽力为您解决。"
        }
        (Category::Injection, Lang::En) => {
            "Sorry, I can't follow instructions that change how I work. \
             I'm happy to help with your orders, deliveries, returns and payments."
        }
        (Category::Injection, Lang::Zh) => {
            "抱歉，我不能执行改变我工作方式的指令。我很乐意帮您处理订单、配送、退换货和付款等问题。"
        }
        (Category::OthersData, Lang::En) => {
            "Sorry, I can't share information about other customers. \
             I can help with your own orders and account once you're signed in."
        }
        (Category::OthersData, Lang::Zh) => {
            "抱歉，我不能提供其他客户的信息。您登录后，我可以帮您处理您自己的订单和账户。"
        }
        (Category::PersonalData, Lang::En) => {
            "Sorry, I can't show that answer here because it contains personal details. \
             A member of our team can help you with it."
        }
        (Category::PersonalData, Lang::Zh) => {
            "抱歉，这个回答包含个人信息，无法在这里显示。我们的工作人员可以为您处理。"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_by_script() {
        assert_eq!(detect_lang("我的订单 #1234 还没到"), Lang::Zh);
        assert_eq!(detect_lang("where is order #1234, 谢谢"), Lang::En);
        assert_eq!(detect_lang(""), Lang::En);
    }
}
