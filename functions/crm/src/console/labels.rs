//! The console's words, one struct per language, so templates never spell text themselves and a
//! second language is a second table. Japanese first.

use crate::domain::{
    field_definition::FieldKind,
    staff::{Role, StaffStatus},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

/// The cookie that keeps a browser's choice of language (Japanese unless it says `en`).
pub const LANG_COOKIE: &str = "tsunagu_lang";

tokio::task_local! {
    static REQUEST_LANG: Lang;
}

/// Middleware: serves the request with the language its cookie names as [`Lang::current`].
pub async fn with_request_language(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let lang = super::auth::cookie(req.headers(), LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_default();
    REQUEST_LANG.scope(lang, next.run(req)).await
}

impl Lang {
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The language of the request being served (set by [`with_request_language`]); Japanese
    /// outside a request. Lets pages before sign-in and error pages speak the browser's choice.
    pub fn current() -> Self {
        REQUEST_LANG.try_with(|l| *l).unwrap_or_default()
    }

    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

/// Every text a console page shows.
#[derive(Debug)]
pub struct Labels {
    /// The `lang` attribute of `<html>`.
    pub lang: &'static str,
    pub app: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub password_again: &'static str,
    pub wrong_credentials: &'static str,
    pub too_many_attempts: &'static str,
    pub dashboard: &'static str,
    pub friends_total: &'static str,
    pub new_today: &'static str,
    pub new_7_days: &'static str,
    pub blocked_today: &'static str,
    pub blocked_total: &'static str,
    pub messages_this_month: &'static str,
    pub quota_limit: &'static str,
    pub no_quota_limit: &'static str,
    pub quota_unknown: &'static str,
    pub as_of: &'static str,
    pub dormant_friends: &'static str,
    pub days_inactive: &'static str,
    pub no_dormancy_tiers: &'static str,
    pub broadcasts_today: &'static str,
    pub nothing_today: &'static str,
    pub members: &'static str,
    pub people: &'static str,
    pub bulk_tags: &'static str,
    pub remove_tag: &'static str,
    pub friends_csv: &'static str,
    pub updated_friends: &'static str,
    pub continue_bulk: &'static str,
    pub too_many_rows: &'static str,
    pub field_definitions: &'static str,
    pub no_field_definitions: &'static str,
    pub field_label: &'static str,
    pub field_kind: &'static str,
    pub kind_text: &'static str,
    pub kind_number: &'static str,
    pub kind_date: &'static str,
    pub kind_choice: &'static str,
    pub choices_one_per_line: &'static str,
    pub other_field: &'static str,
    pub followed_from: &'static str,
    pub followed_until: &'static str,
    pub staff: &'static str,
    pub role: &'static str,
    pub status: &'static str,
    pub invite: &'static str,
    pub invite_link_note: &'static str,
    pub remove: &'static str,
    pub set_password: &'static str,
    pub password_rule: &'static str,
    pub passwords_differ: &'static str,
    pub bad_email: &'static str,
    pub email_taken: &'static str,
    pub last_owner: &'static str,
    pub forbidden: &'static str,
    pub forbidden_detail: &'static str,
    pub not_found: &'static str,
    pub invitation_invalid: &'static str,
    pub bad_form: &'static str,
    pub internal: &'static str,
    pub back: &'static str,
    pub owner: &'static str,
    pub editor: &'static str,
    pub viewer: &'static str,
    pub invited: &'static str,
    pub active: &'static str,
    pub friends: &'static str,
    pub display_name: &'static str,
    pub followed_at: &'static str,
    pub tags: &'static str,
    pub has_tag: &'static str,
    pub lacks_tag: &'static str,
    pub blocked: &'static str,
    pub any: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub filter: &'static str,
    pub next_page: &'static str,
    pub no_friends: &'static str,
    pub add_tag: &'static str,
    pub fields: &'static str,
    pub field_name: &'static str,
    pub value: &'static str,
    pub save: &'static str,
    pub score: &'static str,
    pub route: &'static str,
    pub history: &'static str,
    pub tag_management: &'static str,
    pub scenarios: &'static str,
    pub deliveries: &'static str,
    pub answers: &'static str,
    pub purchases: &'static str,
    pub folder: &'static str,
    pub no_folder: &'static str,
    pub description: &'static str,
}

impl Labels {
    pub fn role_name(&self, role: &Role) -> &'static str {
        match role {
            Role::Owner => self.owner,
            Role::Editor => self.editor,
            Role::Viewer => self.viewer,
        }
    }

    pub fn kind_name(&self, kind: &FieldKind) -> &'static str {
        match kind {
            FieldKind::Text => self.kind_text,
            FieldKind::Number => self.kind_number,
            FieldKind::Date => self.kind_date,
            FieldKind::Choice => self.kind_choice,
        }
    }

    pub fn status_name(&self, status: &StaffStatus) -> &'static str {
        match status {
            StaffStatus::Invited => self.invited,
            StaffStatus::Active => self.active,
        }
    }
}

static JA: Labels = Labels {
    lang: "ja",
    app: "Tsunagu",
    sign_in: "ログイン",
    sign_out: "ログアウト",
    email: "メールアドレス",
    password: "パスワード",
    password_again: "パスワード（確認）",
    wrong_credentials: "メールアドレスまたはパスワードが違います",
    too_many_attempts: "ログインの試行が多すぎます。しばらくしてからもう一度お試しください",
    dashboard: "ダッシュボード",
    friends_total: "友だち数",
    new_today: "今日の新規",
    new_7_days: "7日間の新規",
    blocked_today: "今日のブロック",
    blocked_total: "ブロック中",
    messages_this_month: "今月の配信数",
    quota_limit: "上限",
    no_quota_limit: "上限なし",
    quota_unknown: "LINEから取得できませんでした",
    as_of: "取得時刻",
    dormant_friends: "休眠友だち",
    days_inactive: "日以上反応なし",
    no_dormancy_tiers: "休眠設定がありません",
    broadcasts_today: "本日の予約配信",
    nothing_today: "本日の予約はありません",
    members: "人数",
    people: "人",
    bulk_tags: "絞り込んだ友だち全員のタグ",
    remove_tag: "タグを外す",
    friends_csv: "CSVダウンロード",
    updated_friends: "人を更新しました",
    continue_bulk: "残りの友だちも続けて更新",
    field_definitions: "友だち情報欄",
    no_field_definitions: "まだ項目がありません。年代・性別・誕生日などを定義すると、友だち詳細で選んで入力できます",
    field_label: "表示名（ラベル）",
    field_kind: "種類",
    kind_text: "テキスト",
    kind_number: "数値",
    kind_date: "日付",
    kind_choice: "選択肢",
    choices_one_per_line: "選択肢（1行に1つ）",
    other_field: "その他の項目",
    followed_from: "友だち追加日（から）",
    followed_until: "友だち追加日（まで）",
    too_many_rows: "件数が多すぎます。絞り込んでからダウンロードしてください（2万人まで）",
    staff: "スタッフ",
    role: "権限",
    status: "状態",
    invite: "招待する",
    invite_link_note: "このリンクを招待した方に送ってください（7日間有効、1回限り）",
    remove: "削除",
    set_password: "パスワードを設定",
    password_rule: "10文字以上で入力してください",
    passwords_differ: "パスワードが一致しません",
    bad_email: "メールアドレスの形式が正しくありません",
    email_taken: "このメールアドレスは既に登録されています",
    last_owner: "最後のオーナーは削除できません",
    forbidden: "操作できません",
    forbidden_detail: "この操作を行う権限がないか、フォームの有効期限が切れています。ページを開き直してください",
    not_found: "ページが見つかりません",
    invitation_invalid: "招待リンクが無効か、有効期限が切れています",
    bad_form: "入力内容を読み取れませんでした",
    internal: "エラーが発生しました。しばらくしてからもう一度お試しください",
    back: "戻る",
    owner: "オーナー",
    editor: "編集者",
    viewer: "閲覧者",
    invited: "招待中",
    active: "有効",
    friends: "友だち",
    display_name: "表示名",
    followed_at: "友だち追加日時",
    tags: "タグ",
    has_tag: "タグあり",
    lacks_tag: "タグなし",
    blocked: "ブロック",
    any: "すべて",
    yes: "はい",
    no: "いいえ",
    filter: "絞り込む",
    next_page: "次のページ",
    no_friends: "該当する友だちはいません",
    add_tag: "タグを追加",
    fields: "友だち情報",
    field_name: "項目名",
    value: "値",
    save: "保存",
    score: "スコア",
    route: "流入経路",
    history: "行動履歴",
    tag_management: "タグ管理",
    scenarios: "シナリオ",
    deliveries: "配信履歴",
    answers: "回答",
    purchases: "購入履歴",
    folder: "フォルダ",
    no_folder: "フォルダなし",
    description: "説明",
};

static EN: Labels = Labels {
    lang: "en",
    app: "Tsunagu",
    sign_in: "Sign in",
    sign_out: "Sign out",
    email: "Email",
    password: "Password",
    password_again: "Password (again)",
    wrong_credentials: "Wrong email or password",
    too_many_attempts: "Too many sign-in attempts. Please try again later",
    dashboard: "Dashboard",
    friends_total: "Friends",
    new_today: "New today",
    new_7_days: "New in 7 days",
    blocked_today: "Blocked today",
    blocked_total: "Blocking us",
    messages_this_month: "Messages this month",
    quota_limit: "Limit",
    no_quota_limit: "No limit",
    quota_unknown: "LINE could not be asked",
    as_of: "As of",
    dormant_friends: "Dormant friends",
    days_inactive: " days without activity",
    no_dormancy_tiers: "No dormancy tiers are set",
    broadcasts_today: "Broadcasts today",
    nothing_today: "Nothing scheduled today",
    members: "Friends",
    people: " friends",
    bulk_tags: "Tags of every friend filtered",
    remove_tag: "Remove tag",
    friends_csv: "Download CSV",
    updated_friends: " friends updated",
    continue_bulk: "Go on with the remaining friends",
    field_definitions: "Profile field definitions",
    no_field_definitions: "No fields yet. Define age band, gender, birthday… and staff pick them on a friend's page",
    field_label: "Label",
    field_kind: "Kind",
    kind_text: "Text",
    kind_number: "Number",
    kind_date: "Date",
    kind_choice: "Choice",
    choices_one_per_line: "Choices (one per line)",
    other_field: "Other field",
    followed_from: "Followed from",
    followed_until: "Followed until",
    too_many_rows: "Too many friends for one download. Please filter first (20,000 at most)",
    staff: "Staff",
    role: "Role",
    status: "Status",
    invite: "Invite",
    invite_link_note: "Send this link to the person you invited (valid 7 days, once)",
    remove: "Remove",
    set_password: "Set password",
    password_rule: "At least 10 characters",
    passwords_differ: "The passwords differ",
    bad_email: "Not an email address",
    email_taken: "This email address is already registered",
    last_owner: "The last owner cannot be removed",
    forbidden: "Not allowed",
    forbidden_detail: "You may not do this, or the form has expired. Please reload the page",
    not_found: "Page not found",
    invitation_invalid: "This invitation link is invalid or has expired",
    bad_form: "The form could not be read",
    internal: "Something went wrong. Please try again later",
    back: "Back",
    owner: "Owner",
    editor: "Editor",
    viewer: "Viewer",
    invited: "Invited",
    active: "Active",
    friends: "Friends",
    display_name: "Name",
    followed_at: "Followed",
    tags: "Tags",
    has_tag: "Has tag",
    lacks_tag: "Lacks tag",
    blocked: "Blocked",
    any: "Any",
    yes: "Yes",
    no: "No",
    filter: "Filter",
    next_page: "Next page",
    no_friends: "No friends match",
    add_tag: "Add tag",
    fields: "Profile fields",
    field_name: "Field",
    value: "Value",
    save: "Save",
    score: "Score",
    route: "Inflow route",
    history: "Actions",
    tag_management: "Tags",
    scenarios: "Scenarios",
    deliveries: "Deliveries",
    answers: "Answers",
    purchases: "Purchases",
    folder: "Folder",
    no_folder: "No folder",
    description: "Description",
};
