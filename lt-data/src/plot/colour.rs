//! The colours and names of the shot groups, the same in every chart (matplotlib's tab10 blue,
//! orange and red).

use crate::recipe::Group;
use image::Rgb;
use plotters::style::RGBColor;

pub const MANY: Rgb<u8> = Rgb([31, 119, 180]);
pub const MEDIUM: Rgb<u8> = Rgb([255, 127, 14]);
pub const FEW: Rgb<u8> = Rgb([214, 39, 40]);

/// The groups in legend order.
pub const GROUPS: [Group; 3] = [Group::Many, Group::Medium, Group::Few];

/// A group's colour, for plotters.
pub fn group_colour(g: Group) -> RGBColor {
    let Rgb([r, gg, b]) = match g {
        Group::Many => MANY,
        Group::Medium => MEDIUM,
        Group::Few => FEW,
    };
    RGBColor(r, gg, b)
}

/// A group's name in legends.
pub fn group_name(g: Group) -> &'static str {
    match g {
        Group::Many => "many-shot",
        Group::Medium => "medium-shot",
        Group::Few => "few-shot",
    }
}
